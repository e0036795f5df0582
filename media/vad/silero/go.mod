module github.com/iace/iace/media/vad/silero

go 1.26.0

require (
	github.com/iace/iace v0.0.0-00010101000000-000000000000
	github.com/yalue/onnxruntime_go v1.27.0
)

replace github.com/iace/iace => ../../..
