# posdiag-board: the wiring of a MicroPython board with machine.UART, Pin,
# ADC and sockets (board.py, netprobe.TcpProbe). It builds the link when
# posdiag-link is there too. A board with its own wiring leaves it out.
metadata(description="posdiag board: machine and socket wiring for a MicroPython board")

add_library("posdiag", "..")
require("posdiag-core", library="posdiag")
package("posdiag", files=("board.py", "netprobe.py"), base_path="..", opt=3)
