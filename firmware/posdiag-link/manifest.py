# posdiag-link: the diagnostics link (COBS frames, commands) and the
# technician key (HMAC challenge-response). Without it the terminal tests,
# logs and shows its hint, and nobody can pull the log over a cable.
metadata(description="posdiag link: diagnostics serial link and technician key")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("auth.py", "frame.py", "link.py", "protocol.py"), base_path="..", opt=3)
