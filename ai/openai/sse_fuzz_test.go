package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzChatStream feeds arbitrary bytes to the SSE parser: it must end with
// io.EOF or an error, never panic or loop, and deliver only valid tool calls.
func FuzzChatStream(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"t\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n" +
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n" +
			"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
		"event: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
		": comment\r\ndata:{\"choices\":[]}\r\n\r\ndata: [DONE]\r\n\r\n",
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hal",
		"data: {\"error\":\"bare\"}\n\n",
		"data: {\"x_groq\":{\"error\":\"stopped\"}}\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := int64(len(in))
		s := newChatStream(bufio.NewReaderSize(bytes.NewReader(in), 64), &n, 256, 1<<20, func(err error) error {
			if errors.Is(err, errReadFailed) {
				return ErrTruncated // as Chat classifies an EOF before [DONE]
			}
			return err
		})
		for range len(in) + 2 {
			d, err := s.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) && !bytes.Contains(in, []byte("[DONE]")) {
					t.Fatalf("EOF without [DONE]")
				}
				return
			}
			for _, tc := range d.ToolCalls {
				if tc.Name == "" {
					t.Fatalf("tool call without a name: %+v", tc)
				}
			}
		}
		t.Fatalf("Recv did not end")
	})
}
