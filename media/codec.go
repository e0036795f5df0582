package media

// DecodeTo decodes src, encoded as e, into dst and returns the number of samples
// written. It returns 0 for an encoding it does not know.
func DecodeTo(dst []int16, src []byte, e Encoding) int {
	switch e {
	case EncodingPCMU:
		return DecodeULawTo(dst, src)
	case EncodingPCMA:
		return DecodeALawTo(dst, src)
	case EncodingL16:
		return DecodeL16To(dst, src)
	case EncodingPCM16:
		return DecodePCM16To(dst, src)
	}
	return 0
}

// EncodeTo encodes the samples of src as e into dst and returns the number of
// bytes written. It returns 0 for an encoding it does not know.
func EncodeTo(dst []byte, src []int16, e Encoding) int {
	switch e {
	case EncodingPCMU:
		return EncodeULawTo(dst, src)
	case EncodingPCMA:
		return EncodeALawTo(dst, src)
	case EncodingL16:
		return EncodeL16To(dst, src)
	case EncodingPCM16:
		return EncodePCM16To(dst, src)
	}
	return 0
}
