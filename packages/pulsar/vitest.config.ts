// Shared settings live at the root so every package tests the same way (real broker, generous limits, no timing assertions).
export { default } from "../../vitest.shared.js";
