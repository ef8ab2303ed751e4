# Board entry point: MicroPython runs main.py after boot.py.
from posdiag import board

board.run()
