// Runs a Python script on the official MicroPython WebAssembly port, with the
// posdiag firmware importable from /lib as on a board.
//
//   node run.mjs [--heap BYTES] [--firmware DIR] [--module FILE=NAME]... SCRIPT.py
//   node run.mjs [--heap BYTES] [--firmware DIR] [--module FILE=NAME]... -   (stdin)
//
// --heap sets the initial MicroPython GC heap (default 96 KiB). This port grows
// the heap on demand and collects garbage only between top-level runs, so it
// does not fail at that size the way a board would; within one run nothing is
// freed and gc.mem_alloc() differences count every byte allocated.
// --firmware is the folder holding the firmware packages (default: the repo's
// firmware/); each package folder in it (posdiag/) is copied, .py files only,
// to /lib/<package>/ in MicroPython's file system. Top-level files there
// (main.py) are board entry points and are not copied.
// --module copies one more MicroPython-compatible .py file, importable as the
// dotted NAME (host_tools.sim.parts: the simulator's virtual parts).
// A Python exception prints its traceback to stderr and exits with code 1.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_HEAP = 96 * 1024;
export const DEFAULT_FIRMWARE = path.resolve(HERE, "..", "..", "firmware");

// Node's stream for fd 1 or 2, fed byte by byte by MicroPython and flushed
// at each newline and at exit.
function byteSink(stream) {
  let buf = [];
  const flush = () => {
    if (buf.length) {
      stream.write(Uint8Array.from(buf));
      buf = [];
    }
  };
  const put = (bytes) => {
    for (const b of bytes) {
      buf.push(b);
      if (b === 10 || buf.length >= 4096) flush();
    }
  };
  return { put, flush };
}

function copyPy(mp, src, dst) {
  mp.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    if (entry.isDirectory() && entry.name !== "__pycache__") {
      copyPy(mp, from, `${dst}/${entry.name}`);
    } else if (entry.isFile() && entry.name.endsWith(".py")) {
      mp.FS.writeFile(`${dst}/${entry.name}`, fs.readFileSync(from));
    }
  }
}

// Copy file to /lib as the module of dotted name, its packages created empty.
function copyModule(mp, file, name) {
  const parts = name.split(".");
  let dir = "/lib";
  for (const pkg of parts.slice(0, -1)) {
    dir = `${dir}/${pkg}`;
    mp.FS.mkdirTree(dir);
    if (!mp.FS.analyzePath(`${dir}/__init__.py`).exists) mp.FS.writeFile(`${dir}/__init__.py`, "");
  }
  mp.FS.writeFile(`${dir}/${parts[parts.length - 1]}.py`, fs.readFileSync(file));
}

// A MicroPython instance with the firmware packages (and extra modules, as
// [file, dotted name] pairs) in /lib on sys.path.
export async function boot({ heap = DEFAULT_HEAP, firmware = DEFAULT_FIRMWARE,
                             modules = [], stdout, stderr } = {}) {
  const mp = await loadMicroPython({ heapsize: heap, stdout, stderr, linebuffer: false });
  for (const entry of fs.readdirSync(firmware, { withFileTypes: true })) {
    if (entry.isDirectory() && !entry.name.startsWith(".") && entry.name !== "__pycache__") {
      copyPy(mp, path.join(firmware, entry.name), `/lib/${entry.name}`);
    }
  }
  for (const [file, name] of modules) copyModule(mp, file, name);
  mp.runPython("import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n");
  return mp;
}

function parseArgs(argv) {
  const opts = { heap: DEFAULT_HEAP, firmware: DEFAULT_FIRMWARE, modules: [], script: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--heap" && i + 1 < argv.length) {
      opts.heap = Number.parseInt(argv[++i], 10);
      if (!(opts.heap > 0)) throw new Error(`--heap: not a byte count: ${argv[i]}`);
    } else if (arg === "--firmware" && i + 1 < argv.length) {
      opts.firmware = path.resolve(argv[++i]);
    } else if (arg === "--module" && i + 1 < argv.length) {
      const [file, name] = argv[++i].split("=");
      if (!file || !name) throw new Error(`--module wants FILE=NAME: ${argv[i]}`);
      opts.modules.push([path.resolve(file), name]);
    } else if (i === argv.length - 1 && (arg === "-" || !arg.startsWith("--"))) {
      opts.script = arg;
    } else {
      throw new Error(`unexpected argument: ${arg}`);
    }
  }
  if (opts.script === null) {
    throw new Error("usage: node run.mjs [--heap BYTES] [--firmware DIR] SCRIPT.py|-");
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`run.mjs: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const source = fs.readFileSync(opts.script === "-" ? 0 : opts.script, "utf8");
  // A reader that stops early (| head) ends the run quietly.
  process.stdout.on("error", (e) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(0);
  });
  const out = byteSink(process.stdout);
  const err = byteSink(process.stderr);
  try {
    const mp = await boot({ heap: opts.heap, firmware: opts.firmware, modules: opts.modules,
                            stdout: out.put, stderr: err.put });
    mp.runPython(source);
  } catch (error) {
    if (error.name !== "PythonError") throw error;
    out.flush();
    // error.message is MicroPython's traceback text.
    let text = error.message.endsWith("\n") ? error.message : `${error.message}\n`;
    process.exitCode = 1;
    if (error.type === "SystemExit") {
      // As CPython: sys.exit() and sys.exit(n) set the exit code; sys.exit("why")
      // prints why and exits with 1.
      const arg = text.trimEnd().split("\n").pop().replace(/^SystemExit:? ?/, "");
      if (arg === "" || arg === "None") process.exitCode = 0;
      else if (/^-?\d+$/.test(arg)) process.exitCode = Number(arg) & 0xff;
      text = /^-?\d*$/.test(arg) || arg === "None" ? "" : `${arg}\n`;
    }
    err.put(new TextEncoder().encode(text));
  } finally {
    out.flush();
    err.flush();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
