package openaitest

// queues are the scripted answers of the endpoints added after chat and
// speech; Server.mu guards them.
type queues struct {
	transcription    []TranscriptionReply
	defTranscription TranscriptionReply
	embeddings       []EmbeddingsReply
	defEmbeddings    EmbeddingsReply
	json             []JSONReply
	defJSON          JSONReply
}

func newQueues() queues {
	return queues{
		defTranscription: TranscriptionReply{Text: " I'd like to book a cleaning on Friday."},
		defJSON:          JSONReply{Content: `{"score":0,"label":"neutral"}`},
	}
}

// pop takes the head of q, or def when q is empty.
func pop[T any](q *[]T, def T) T {
	if len(*q) == 0 {
		return def
	}
	r := (*q)[0]
	*q = (*q)[1:]
	return r
}

// EnqueueTranscription scripts the next /audio/transcriptions answers, one
// per request; when the queue is empty the default answer is sent.
func (s *Server) EnqueueTranscription(r ...TranscriptionReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.transcription = append(s.more.transcription, r...)
}

// SetDefaultTranscription sets the answer sent when the transcription queue
// is empty.
func (s *Server) SetDefaultTranscription(r TranscriptionReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.defTranscription = r
}

// EnqueueEmbeddings scripts the next /embeddings answers.
func (s *Server) EnqueueEmbeddings(r ...EmbeddingsReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.embeddings = append(s.more.embeddings, r...)
}

// SetDefaultEmbeddings sets the answer sent when the embeddings queue is
// empty.
func (s *Server) SetDefaultEmbeddings(r EmbeddingsReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.defEmbeddings = r
}

// EnqueueJSON scripts the next non-streamed /chat/completions answers (JSON
// mode).
func (s *Server) EnqueueJSON(r ...JSONReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.json = append(s.more.json, r...)
}

// SetDefaultJSON sets the answer sent when the JSON queue is empty.
func (s *Server) SetDefaultJSON(r JSONReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.more.defJSON = r
}

func (s *Server) nextTranscription() TranscriptionReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pop(&s.more.transcription, s.more.defTranscription)
}

func (s *Server) nextEmbeddings() EmbeddingsReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pop(&s.more.embeddings, s.more.defEmbeddings)
}

func (s *Server) nextJSON() JSONReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pop(&s.more.json, s.more.defJSON)
}
