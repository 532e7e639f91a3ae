# permission-mongo — every target works on a fresh machine with Go installed.
GO ?= go
# VERSION is what `pm version` prints.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS := ./...
# golangci-lint is pinned in tools/go.mod, a module file of its own so that its
# dependencies never change the versions the server is built with.
GOLANGCI_LINT = $(GO) tool -modfile=$(CURDIR)/tools/go.mod golangci-lint
FUZZTIME ?= 30s

.PHONY: test test-documentdb deps run build vet lint fmt-check bench fuzz fuzz-http golden sdk-test

## test: formatting, vet, lint, every test with the race detector, the full differential test
## (the race run uses a smaller data set), and one pass of each benchmark. The SDKs'
## suites against real proxies are in cmd/pm (TestPythonSDK, TestGoSDK); sdk/go is a
## module of its own, so its tests also run from its folder (and via TestGoSDKModule).
test: deps fmt-check vet lint
	$(GO) test -race -count=1 -timeout 40m $(PKGS)
	cd sdk/go && $(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run Differential -timeout 20m ./internal/policy/when/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m $(PKGS)

## test-documentdb: the whole suite again on a second engine, FerretDB v2 + DocumentDB on
## PostgreSQL, started from the pm-docdb kit (PM_DOCDB_KIT=path/to/pm-docdb) and stopped after
test-documentdb: deps
	@bash scripts/test-documentdb.sh

## deps: install what the tests need besides Go (redis-server, python3, chromium) when missing
deps:
	@bash scripts/install-deps.sh

## run: the server on the embedded backend with the example policies and demo keys
run:
	$(GO) run ./cmd/pm dev

## build: the pm binary in bin/pm
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/pm ./cmd/pm

vet:
	$(GO) vet $(PKGS)
	cd sdk/go && $(GO) vet ./...

## lint: golangci-lint with .golangci.yml on the server module and on sdk/go (zero findings)
lint:
	$(GOLANGCI_LINT) run $(PKGS)
	cd sdk/go && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...

## sdk-test: both SDKs' suites against real proxies (PM_TEST_MONGODB_URI picks the engine)
sdk-test:
	cd sdk/go && $(GO) test -count=1 ./...
	$(GO) test -count=1 -run 'TestPythonSDK|TestGoSDK' ./cmd/pm/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the benchmarks, for real
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: every fuzz target in the module (found by `go test -list '^Fuzz'`), each for
## FUZZTIME (default 30s)
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## fuzz-http: the generated HTTP test (internal/httpfuzz) run long. PM_FUZZ_HTTP_CASES sets
## the budget (20000 here, 300 in `make test`), PM_FUZZ_HTTP_SEED replays a run,
## PM_FUZZ_HTTP_KNOWN=all also sends the known open findings it excludes by default,
## PM_TEST_MONGODB_URI picks the database server (the embedded FerretDB when unset).
fuzz-http:
	PM_FUZZ_HTTP_CASES=$${PM_FUZZ_HTTP_CASES:-20000} $(GO) test -count=1 -v -run '^TestHTTPGenerator$$' -timeout 6h ./internal/httpfuzz/

## golden: regenerate golden files
golden:
	$(GO) test ./internal/policy/when/ -run Golden -update
	$(GO) test ./internal/pipeline/ -run Golden -update
