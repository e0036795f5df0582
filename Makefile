# IACE: make run | test | bench | lint | vuln | fuzz | loadtest
GO       ?= go
# go.mod pins the toolchain (a patch release without known vulnerabilities);
# auto lets the go command fetch it through the module proxy when the
# installed Go is older. Some installs default to local, which ignores the pin.
export GOTOOLCHAIN ?= auto
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

# Load-run settings: make loadtest CALLS=1000 DURATION=60s
CALLS    ?= 200
DURATION ?= 30s
RAMP     ?= 10s

.PHONY: all build run test test-short bench lint vuln fuzz loadtest soak clean

all: lint test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/iace ./cmd/iace
	$(GO) build -trimpath -o $(BIN)/callsim ./loadtest/callsim

## run: build and serve with the embedded defaults (no database, no keys),
## on loopback, where streams without a token (the call simulator's) are let in
run: build
	$(BIN)/iace serve --addr 127.0.0.1:8080

## test: every test, with the race detector and coverage (per package, and
## a total of the product, the load tools under loadtest/ apart, that must
## reach COVERFLOOR %), then the zero-allocation guards
## of the hot paths and the barge-in corpus measurements, which need a
## build without the race detector
COVERFLOOR   ?= 70
COVERPROFILE ?= $(BIN)/cover.out
test:
	@mkdir -p $(dir $(COVERPROFILE))
	$(GO) test -race -count=1 -timeout 15m -coverprofile=$(COVERPROFILE) $(PKGS)
	./deploy/coverage.sh $(COVERPROFILE) $(COVERFLOOR)
	$(GO) test -count=1 -run 'Allocs' ./media/ ./media/telnyx/ ./session/
	$(GO) test -count=1 -run 'BargeInCorpus|AcrossPaths|TwentyDBDown|OverTheStartOfAReply' ./media/vad/
	cd deploy && $(GO) test -count=1 -timeout 10m ./...

test-short:
	$(GO) test -count=1 -short $(PKGS)

## bench: hot-path benchmarks with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./media/... ./session/...

## lint: gofmt, go vet, and golangci-lint v2 when installed
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v golangci-lint >/dev/null 2>&1; then golangci-lint run $(PKGS); \
	  elif [ -x "$$($(GO) env GOPATH)/bin/golangci-lint" ]; then "$$($(GO) env GOPATH)/bin/golangci-lint" run $(PKGS); \
	  else echo "golangci-lint not installed: skipped (go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0)"; fi

## vuln: govulncheck against the Go vulnerability database (an offline copy when it is out of reach)
vuln:
	./deploy/vulncheck.sh

## fuzz: a short run of every fuzz target of the module, found in the test
## files, FUZZTIME each (FUZZTIME=5m for longer)
FUZZTIME ?= 20s
fuzz:
	@set -e; pkgs=$$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' $(PKGS)); \
	echo "$$pkgs" | while read -r pkg dir; do \
	  [ -n "$$pkg" ] || continue; \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$dir"/*_test.go); do \
	    echo "fuzz: $$pkg $$name"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	  done; \
	done

## loadtest: iace serve plus callsim on this machine (CALLS, DURATION, RAMP)
loadtest: build
	./loadtest/run.sh $(CALLS) $(DURATION) $(RAMP)

## soak: CALLS calls kept up for DURATION (500 and 30m unless given, with a
## RAMP of 60s: the load-run defaults above are not a soak's), the server's
## memory, goroutines and descriptors sampled and their slopes checked; see
## docs/RELIABILITY.md (INTERVAL, WARMUP, SERVER_CPUS, SIM_CPUS, OUT too)
soakvars = $(foreach v,CALLS DURATION RAMP,$(if $(filter file,$(origin $(v))),,$(v)=$($(v))))
soak: build
	$(soakvars) ./loadtest/soak.sh

## chaos: the reliability suite's chaos cases, CALLS calls (300 unless
## given) over three nodes behind a load balancer, a node killed and all
## restarted, Redis and PostgreSQL restarted (they are started again on
## exit), providers failing; see docs/RELIABILITY.md (CASES, OUT, KEEP_DB)
.PHONY: chaos
chaos:
	./loadtest/chaos.sh $(if $(filter file,$(origin CALLS)),300,$(CALLS))

clean:
	rm -rf $(BIN)
