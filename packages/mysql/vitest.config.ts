// Shared settings live at the root so every package tests the same way.
export { default } from "../../vitest.shared.js";
