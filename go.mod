module github.com/aiflow-go/aiflow

go 1.26

require github.com/jonboulle/clockwork v0.5.0
