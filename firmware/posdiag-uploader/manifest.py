# posdiag-uploader: what a terminal with a network needs to post its records
# and pending receipts to a posdiag hub (docs/hub.md): the wire contract
# (signed requests, batch heads) and the uploader (an HTTP/1.1 client over
# the board's socket and ssl; settings hub_url, upload_key,
# upload_budget_ms). Without it a terminal keeps everything for the serial
# link. hubwire signs with the core's posdiag.mac: no link package needed.
metadata(description="posdiag uploader: signed uploads of records and receipts to a posdiag hub")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("hubwire.py", "uploader.py"), base_path="..", opt=3)
