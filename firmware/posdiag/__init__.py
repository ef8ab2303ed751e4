# posdiag firmware: the self-test that runs on the POS terminal.
VERSION = "0.1.0"
