"""The symbolic bytecode interpreter (layer 5): InstructionTranslator and per-opcode handlers."""
