"""Reading and writing files: model formats (torch.save, TorchScript, safetensors, ONNX,
Keras), session files, exports, and the safe readers and atomic writers they share."""
