// Starts the fauxqs S3/SQS/SNS emulator on the loopback interface only (its own command-line
// program listens on every interface). The port comes from FAUXQS_PORT, 4566 by default.
import { buildApp } from "fauxqs";

const port = Number.parseInt(process.env.FAUXQS_PORT ?? "4566", 10);
const app = buildApp({ logger: false });
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on http://127.0.0.1:${port}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await app.close();
    process.exit(0);
  });
}
