/** onnx.TensorProto.DataType codes for Cast's `to` attribute. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
