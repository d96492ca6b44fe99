import { RawConnection } from "./test/helpers/raw-client.js";
const r = await RawConnection.connect(44539);
await r.login({ user: "pairgate_admin", password: "admin-test-secret" });
await r.query(Buffer.concat([Buffer.from([3]), Buffer.from("SET SESSION TRANSACTION READ ONLY")]));
for (const q of process.argv.slice(2)) {
  console.log("==", q);
  r.send(0, Buffer.concat([Buffer.from([3]), Buffer.from(q)]));
  for (;;) {
    const p = await r.read();
    console.log(p.seq, p.payload.length, p.payload[0].toString(16), p.payload[0] === 0xff ? p.payload.subarray(1, 60).toString("latin1") : "");
    if (p.payload[0] === 0xff) break;
    if (p.payload[0] === 0xfe && p.payload.length < 9 && p.seq > 4) break;
  }
}
process.exit(0);
