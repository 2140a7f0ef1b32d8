// Starts CongoDB in memory on 127.0.0.1:<port> and prints "ready <port>"; stops on stdin close.
import { CongoServer } from "./congodb/index.js";

const port = Number(process.argv[2] || 27117);
const server = new CongoServer({ port, host: "127.0.0.1", storage: "memory" });
await server.start();
console.log(`ready ${server.port}`);
process.stdin.resume();
process.stdin.on("end", async () => {
  await server.stop();
  process.exit(0);
});
