GO       ?= go
BIN      := bin/rotor
ROTOR_BIN := $(abspath $(BIN))
FUZZTIME ?= 10s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: admin-ui admin-ui-check build run test test-unit test-alloc test-stalled test-e2e test-js test-e2e-tls test-js-tls fuzz fuzz-smoke bench vet fmt-check test-bench-tool

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/rotor

## run: a development server on 127.0.0.1:8000 (in-memory engine, generated secrets;
## prints the admin UI URL with a generated password, and a demo token)
run: build
	./$(BIN)

## test: every test — formatting, vet, unit tests under -race, allocation budgets,
## a short fuzz pass over every parser, and the end-to-end suites through the SDKs.
test: fmt-check vet admin-ui-check test-unit test-alloc test-stalled fuzz-smoke test-e2e test-js test-e2e-tls test-js-tls test-bench-tool

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test-unit:
	$(GO) test -race -count=1 ./...

# Allocation tests are excluded under -race (the detector allocates); run them plain.
test-alloc:
	$(GO) test -count=1 -run 'Alloc|Idle' ./...

# Slow clients must not hurt the others: 500 subscribers with and without 20 stalled
# ones over real sockets (about 30 s; excluded under -race, which is too slow for it).
test-stalled:
	$(GO) test -count=1 -run 'TestStalledSubscribersDoNotHurtOthers' ./netio

fuzz-smoke:
	FUZZTIME=3s ./scripts/fuzz.sh

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

test-e2e: build
	cd e2e && ROTOR_BIN=$(ROTOR_BIN) $(GO) test -count=1 ./...

test-js: build
	cd e2e/js && npm ci --no-audit --no-fund && ROTOR_BIN=$(ROTOR_BIN) node --test

# The end-to-end suites again over TLS (netio/stdws), with a certificate the
# harnesses generate (e2e/harness/tls.go; e2e/js/tls-run.mjs needs openssl).
test-e2e-tls: build
	cd e2e && ROTOR_E2E_TLS=1 ROTOR_BIN=$(ROTOR_BIN) $(GO) test -count=1 ./...

test-js-tls: build
	cd e2e/js && npm ci --no-audit --no-fund && ROTOR_BIN=$(ROTOR_BIN) node tls-run.mjs

# The load tool's four modes against a rotor started by the test, small and bounded.
test-bench-tool: build
	ROTOR_BIN=$(ROTOR_BIN) $(GO) test -count=1 -run TestAgainstServer ./benchmarks

## bench: Go benchmarks in a form benchstat reads (go install golang.org/x/perf/cmd/benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.txt

## admin-ui: rebuild the embedded admin UI (admin-ui/dist, committed) from admin-ui/src with npm
admin-ui:
	cd admin-ui && npm ci --no-audit --no-fund && npm run build

## admin-ui-check: the committed admin-ui/dist is what the sources build to (the build is deterministic)
admin-ui-check: admin-ui
	@if [ -n "$$(git status --porcelain -- admin-ui/dist)" ]; then \
		echo "admin-ui/dist is stale: run 'make admin-ui' and commit it"; git status --short -- admin-ui/dist; exit 1; fi
