# posdiag-uploader: what a terminal with a network needs to post its records
# and pending receipts to a posdiag hub (docs/hub.md): the wire contract
# (signed requests, batch heads); the uploader itself joins it. Without it
# a terminal keeps everything for the serial link.
metadata(description="posdiag uploader: signed uploads of records and receipts to a posdiag hub")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("hubwire.py",), base_path="..", opt=3)
