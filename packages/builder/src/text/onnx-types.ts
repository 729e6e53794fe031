/** onnx.TensorProto.DataType codes for Cast's `to` attribute. */
export const ONNX_FLOAT = 1;
export const ONNX_BOOL = 9;
