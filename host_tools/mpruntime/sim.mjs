// The simulated terminal on real MicroPython: the firmware runs on the
// WebAssembly port while its parts are real where the CPython simulator's are:
// the printer port and the diagnostics port are ttys (opened with Node's fs),
// the settlement host is reached over TCP (Node's net, in a worker thread),
// flash is a real folder. hal_js.py is the firmware's side of this bridge.
//
//   node sim.mjs SETTINGS.json
//
// SETTINGS (written by MicroPythonTerminal in host_tools/sim/runner.py):
// printer and diag tty paths, flash folder, fault ids, failed prints, board
// config overrides.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { boot } from "./run.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIM = path.resolve(HERE, "..", "sim");

// Blocking waits for a synchronous firmware: sleep, and the TCP worker's
// answer. control: [0] sleep (never set), [1] done, [2] host flags,
// [3] connect ms, [4] echo ms (-1: none). tcp_worker.mjs fills 1-4.
const control = new Int32Array(new SharedArrayBuffer(32));
const SLEEP = 0, DONE = 1;

function out(bytes) {
  fs.writeSync(1, Uint8Array.from(bytes));
}

// -- ttys -------------------------------------------------------------------
globalThis.tty_open = (p) =>
  fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);

const rxBuf = Buffer.alloc(4096);
globalThis.tty_read = (fd, n) => {
  try {
    const got = fs.readSync(fd, rxBuf, 0, Math.min(n, rxBuf.length), null);
    return rxBuf.subarray(0, got).toString("hex");
  } catch (e) {
    if (e.code === "EAGAIN" || e.code === "EIO") return "";
    throw e;
  }
};

globalThis.tty_write = (fd, hex) => {
  let data = Buffer.from(hex, "hex");
  const deadline = performance.now() + 2000;
  while (data.length) {
    try {
      data = data.subarray(fs.writeSync(fd, data));
    } catch (e) {
      if (e.code !== "EAGAIN" || performance.now() > deadline) return; // nobody reads: drop
      Atomics.wait(control, SLEEP, 0, 1);
    }
  }
};

// The line speed, as machine.UART.init(baudrate=...) sets it.
globalThis.tty_baud = (p, rate) => {
  execFileSync("stty", ["-F", p, String(rate)]);
};

// -- clock -------------------------------------------------------------------
globalThis.now_ms = () => Math.floor(performance.now());
globalThis.unix_time = () => Math.floor(Date.now() / 1000);
globalThis.sleep_ms = (ms) => {
  Atomics.wait(control, SLEEP, 0, ms);
};

// -- randomness for the link's challenges (this port has no os.urandom) ----
globalThis.random_hex = (n) => crypto.getRandomValues(new Uint8Array(n))
  .reduce((hex, b) => hex + b.toString(16).padStart(2, "0"), "");

// -- settlement host over TCP ------------------------------------------------
const net = new Worker(new URL("./tcp_worker.mjs", import.meta.url), {
  workerData: control.buffer,
});
globalThis.tcp_probe = (host, port, timeout, echoHex, expectHex) => {
  Atomics.store(control, DONE, 0);
  net.postMessage({ host, port, timeout, echo: echoHex, expect: expectHex });
  if (Atomics.wait(control, DONE, 0, timeout * 3 + 1000) === "timed-out") {
    return "4,-1,-1"; // the worker never answered: a connect timeout
  }
  return `${control[2]},${control[3]},${control[4]}`;
};

// -- flash: a real folder ----------------------------------------------------
globalThis.dir_make = (p) => fs.mkdirSync(p, { recursive: true });
globalThis.dir_list = (p) => fs.readdirSync(p).join("/");
globalThis.file_exists = (p) => fs.existsSync(p);
globalThis.file_read = (p) => fs.readFileSync(p).toString("hex");
globalThis.file_write = (p, hex, append) =>
  (append ? fs.appendFileSync : fs.writeFileSync)(p, Buffer.from(hex, "hex"));
globalThis.file_remove = (p) => fs.unlinkSync(p);
globalThis.file_rename = (a, b) => fs.renameSync(a, b);
globalThis.file_size = (p) => fs.statSync(p).size;

// -- the terminal ------------------------------------------------------------
const settings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
// The settings carry the failed prints as the POS handed them over, card
// numbers unmasked: read once, then gone from the state folder.
fs.unlinkSync(process.argv[2]);
const mp = await boot({
  heap: 128 * 1024,
  modules: [
    [path.join(SIM, "parts.py"), "host_tools.sim.parts"],
    [path.join(SIM, "faults.py"), "host_tools.sim.faults"],
    [path.join(HERE, "hal_js.py"), "host_tools.mpruntime.hal_js"],
  ],
  stdout: out,
  stderr: (bytes) => fs.writeSync(2, Uint8Array.from(bytes)),
});
try {
  mp.runPython(
    `import json\nfrom host_tools.mpruntime import hal_js\n` +
      `hal_js.run(json.loads(${JSON.stringify(JSON.stringify(settings))}))\n`,
  );
} catch (error) {
  fs.writeSync(2, `${error.message}\n${error.stack || ""}\n`);
  process.exit(1);
}
