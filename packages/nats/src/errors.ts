// The errors are shared by every transport: they live in @cozebus/core (one brand, one set of codes).
export * from "@cozebus/core/transport";
