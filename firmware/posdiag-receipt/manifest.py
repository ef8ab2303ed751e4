# posdiag-receipt: the pending-receipt journal's contents and e-receipts
# (card data masked or refused before anything is stored, the QR code's
# link or offline text). Without it a failed print runs the self-test and
# keeps no receipt. posdiag-uploader is a package like this one.
metadata(description="posdiag receipts: card-data masking and e-receipts for failed prints")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("digits.py", "ereceipt.py", "receipt.py"), base_path="..", opt=3)
