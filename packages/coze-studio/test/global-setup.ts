/** Builds cozego (the Go side of these tests) in vitest's main process, once, before the test files run. */
import { cozego } from "./go.js";

export default function setup(): void {
  cozego();
}
