// ipcx over WebSocket, for browsers (and Node 22, or Node 20 with
// --experimental-websocket): send messages to an ipcx receiver at a
// ws:// or wss:// endpoint, or receive from a listening ipcx sender
// (`listen=true`). The wire format is in docs/remote.md: the first message
// is the hello (text), and each binary message after it is one ipcx message.
//
//   import { connect, subscribe } from "./ipcx-ws.mjs";
//   const tx = await connect("ws://127.0.0.1:8080/frames");   // `ipcx recv ws://127.0.0.1:8080/frames`
//   tx.send("hello");                 // a string goes as its UTF-8 bytes
//   tx.send(new Uint8Array([1, 2]));  // bytes as they are
//   await tx.close();                 // the receiver sees this sender end
//
//   // `ipcx send 'ws://127.0.0.1:8081/feed?listen=true'`: every page gets every message
//   const rx = await subscribe("ws://127.0.0.1:8081/feed", (bytes) => console.log(bytes));
//   await rx.ended;                   // resolves when the sender is done

/** The fingerprint of `ipcx::Identity::named(name)` (FNV-1a 64 of the
 *  name's UTF-8 bytes), as 16 hex digits. "bytes" is what byte receivers
 *  (`Receiver<Bytes>`, `ipcx recv`) declare. */
export function fingerprint(name) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(name)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** Connects to the ipcx receiver at `url` and says hello. Resolves to a
 *  sender once the receiver has accepted it; rejects with the receiver's
 *  reason (a type mismatch, a wrong path) or when nobody is there.
 *  `name`: "bytes" (the default: a byte receiver takes any payload), or
 *  a name both ends declare (`OpenOptions::identity(Identity::named(..))`),
 *  whose payloads the sender encodes as the receiver's codec expects. */
export function connect(url, { name = "bytes", fingerprint: fp = fingerprint(name) } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(`ipcx 1 sends ${fp} ${name}`);
    ws.onmessage = (event) => {
      if (event.data !== "ipcx 1 ok") {
        reject(new Error(`not an ipcx receiver at ${url}: ${event.data}`));
        return;
      }
      resolve({
        send(message) {
          ws.send(typeof message === "string" ? new TextEncoder().encode(message) : message);
        },
        close() {
          return new Promise((done) => {
            ws.onclose = () => done();
            ws.close(1000);
          });
        },
      });
    };
    // An error is always followed by a close, which has the reason.
    ws.onclose = (event) =>
      reject(
        new Error(
          event.code === 1006
            ? `cannot connect to ${url}`
            : `${url} refused this sender (${event.code}): ${event.reason}`,
        ),
      );
  });
}

/** Connects to a listening ipcx sender (`ipcx send 'ws://…?listen=true'`)
 *  and says hello; `onMessage(Uint8Array)` gets each message sent from
 *  then on. Resolves once the sender accepted this receiver, to
 *  `{ ended, close() }`: `ended` resolves when the sender is done (a
 *  normal close) and rejects with the sender's reason otherwise (e.g.
 *  "too slow" for a receiver that fell behind). Rejects at once on a
 *  type mismatch, a wrong path, or when nobody is there. */
export function subscribe(url, onMessage, { name = "bytes", fingerprint: fp = fingerprint(name) } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let accepted = false;
    let end = { resolve() {}, reject() {} };
    const ended = new Promise((res, rej) => (end = { resolve: res, reject: rej }));
    ws.onopen = () => ws.send(`ipcx 1 receives ${fp} ${name}`);
    ws.onmessage = (event) => {
      if (accepted) {
        if (typeof event.data !== "string") onMessage(new Uint8Array(event.data));
        return;
      }
      if (event.data !== "ipcx 1 ok") {
        reject(new Error(`not a listening ipcx sender at ${url}: ${event.data}`));
        return;
      }
      accepted = true;
      resolve({ ended, close: () => ws.close(1000) });
    };
    ws.onclose = (event) => {
      const why = new Error(
        event.code === 1006
          ? `cannot connect to ${url}`
          : `${url} closed this receiver (${event.code}): ${event.reason}`,
      );
      if (!accepted) reject(why);
      else if (event.code === 1000) end.resolve();
      else end.reject(why);
    };
  });
}
