"""The fx graph being captured, its inputs, and fake-tensor propagation (layer 3)."""
