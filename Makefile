# tracewatch: `make check` is what CI runs (gofmt, vet, all tests with -race, then the
# end-to-end quality test, which the race detector makes too slow, without it).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# FUZZTIME: how long each fuzz target runs, a duration (10s) or a count of executions
# (300000x); FUZZSLOW the same for the server's slower targets. CI uses counts: with a
# duration, Go 1.26's fuzz coordinator can fail a clean run with "context deadline
# exceeded" as the time runs out (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 10s
FUZZSLOW ?= $(FUZZTIME)

.PHONY: all build test check fmt-check vet bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o tracewatch ./cmd/tracewatch

test:
	$(GO) test ./...

check: fmt-check vet
	$(GO) test -race ./...
	$(GO) test -count=1 -run 'TestQualitySmall' ./cmd/tracewatch

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Benchmarks; docs/BENCHMARKS.md records the figures with the command that produced them.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Short fuzzing runs of every parser of outside input and every decoder the server exposes
# (FUZZTIME each). Minimization is
# capped: with the default 60 s the workers stall while a new input is minimized.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/tracecode
	$(GO) test -run '^$$' -fuzz '^FuzzDigitalLink$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/tracecode
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/idno
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/nhsa
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/nhsa
	$(GO) test -run '^$$' -fuzz '^FuzzObjectMatchesEncodingJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/nhsa
	$(GO) test -run '^$$' -fuzz '^FuzzReadCSV$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/refload
	$(GO) test -run '^$$' -fuzz '^FuzzReadJSONL$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/refload
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./internal/geo
	$(GO) test -run '^$$' -fuzz '^FuzzEndpoints$$' -fuzztime $(FUZZSLOW) -fuzzminimizetime 1s ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzMaskJSON$$' -fuzztime $(FUZZSLOW) -fuzzminimizetime 1s ./internal/server

clean:
	rm -f tracewatch
