// POSTs a body over the limit N times, as Node clients do: the whole body is
// written before the answer is read (no Expect: 100-continue). Prints each
// answer's status, or the error a client would see instead.
import { request } from 'undici';

const [port, key, count, size] = process.argv.slice(2);
const body = Buffer.alloc(Number(size), 'x');

for (let i = 0; i < Number(count); i++) {
  try {
    const r = await request(`http://127.0.0.1:${port}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body,
    });
    await r.body.dump();
    console.log(r.statusCode);
  } catch (e) {
    console.log(e.code || e.name);
  }
}
