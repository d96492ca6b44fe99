/**
 * `node --import tsx test/helpers/pairgate-cli.ts start --config FILE`: the pairgate CLI run from
 * the sources, for tests that need the proxy as a separate process while dist/ is older than src/.
 */
import { main } from "../../src/cli.js";

await main(process.argv.slice(2));
