# posdiag-link: the diagnostics link (COBS frames, commands) and the
# technician key (HMAC challenge-response). Without it the terminal tests,
# logs and shows its hint, and nobody can pull the log over a cable.
# protocol.py stays off the terminal: the host's and the docs' reference
# of the codes and layouts, which link.py folds into const().
metadata(description="posdiag link: diagnostics serial link and technician key")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("auth.py", "frame.py", "link.py"), base_path="..", opt=3)
