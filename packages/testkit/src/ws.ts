import WebSocket from 'ws';

/** A frame as the test sees it. */
export type Frame = Record<string, unknown> & { type: string };

/** A raw WebSocket client for tests that need to speak the protocol byte by byte. */
export interface TestSocket {
  ws: WebSocket;
  /** Every frame received so far, in order. */
  frames: Frame[];
  send(frame: object): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  /** Resolves with the first frame (already received or future) after `from` matching `pred`. */
  next(pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Sends a request with a fresh id and resolves with the reply carrying that id. */
  request(frame: object, timeoutMs?: number): Promise<Frame>;
  /** Resolves when the socket closes, with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

let ids = 0;

/** Opens a WebSocket, waits for the broker's `welcome` frame (or a refusal), and records frames. */
export async function connectWs(url: string, options: { headers?: Record<string, string> } = {}): Promise<TestSocket> {
  const ws = new WebSocket(url, { headers: options.headers ?? {} });
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of [...waiters]) w();
    });
  });
  ws.on('error', () => {});
  const consumed = new WeakSet<Frame>();
  const t: TestSocket = {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data, binary = false) => ws.send(data, { binary }),
    next(pred, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const f = frames.find((x) => !consumed.has(x) && pred(x));
          if (f === undefined) return false;
          consumed.add(f);
          waiters.delete(check as () => void);
          clearTimeout(timer);
          resolve(f);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`no matching frame within ${timeoutMs} ms; got: ${JSON.stringify(frames.slice(-5))}`));
        }, timeoutMs);
        if (!check()) waiters.add(check as () => void);
      });
    },
    request(frame, timeoutMs) {
      const id = `t${++ids}`;
      t.send({ ...frame, id });
      return t.next((f) => f.id === id, timeoutMs);
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await closed;
    },
  };
  await t.next((f) => f.type === 'welcome' || f.type === 'error');
  return t;
}
