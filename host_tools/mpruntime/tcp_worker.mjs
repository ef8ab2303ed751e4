// Reaches the settlement host for sim.mjs: DNS, TCP connect and the optional
// application echo, timed, with the result left in shared memory for the
// waiting firmware. Flag values are posdiag/catalog.py's H_*.
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";

const control = new Int32Array(workerData);
const H_DNS = 0x1, H_REFUSED = 0x2, H_TIMEOUT = 0x4, H_REJECTS = 0x10, H_ECHO_TIMEOUT = 0x20;

function answer(flags, rtt, echo) {
  control[2] = flags;
  control[3] = rtt;
  control[4] = echo;
  Atomics.store(control, 1, 1);
  Atomics.notify(control, 1);
}

parentPort.on("message", ({ host, port, timeout, echo, expect }) => {
  const start = performance.now();
  const expected = Buffer.from(expect, "hex");
  let rtt = -1;
  let echoStart = 0;
  let reply = Buffer.alloc(0);
  let done = false;
  const finish = (flags, echoMs) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.destroy();
    answer(flags, rtt, echoMs);
  };
  const sock = net.connect({ host, port });
  const timer = setTimeout(
    () => finish(rtt < 0 ? H_TIMEOUT : H_ECHO_TIMEOUT, -1),
    timeout,
  );
  sock.on("connect", () => {
    rtt = Math.floor(performance.now() - start);
    if (!echo) return finish(0, -1);
    echoStart = performance.now();
    sock.write(Buffer.from(echo, "hex"));
  });
  sock.on("data", (chunk) => {
    reply = Buffer.concat([reply, chunk]);
    if (reply.length >= expected.length) {
      const took = Math.floor(performance.now() - echoStart);
      finish(reply.subarray(0, expected.length).equals(expected) ? 0 : H_REJECTS, took);
    }
  });
  sock.on("end", () => finish(H_REJECTS, echoStart ? Math.floor(performance.now() - echoStart) : -1));
  sock.on("error", (e) => {
    if (rtt >= 0) return finish(H_REJECTS, -1);
    finish(e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" ? H_DNS : H_REFUSED, -1);
  });
});
