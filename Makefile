# Osprey — the two commands: `make run` and `make test`.
GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test test-short lint fmt-check vet staticcheck bench bench-agent proto clean

all: build

## build: bin/osprey and bin/osprey-agent
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/osprey ./cmd/osprey
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/osprey-agent ./cmd/osprey-agent

## run: the server with a local agent; UI on http://localhost:8800, data in ./data
run: build
	./bin/osprey up --data-dir ./data

## test: formatting, vet, staticcheck, then every test with the race detector
test: lint
	PATH="$$(./scripts/test-deps.sh):$$PATH" $(GO) test -race -count=1 -timeout 30m ./...

## test-short: the tests without the race detector (faster, for a laptop)
test-short:
	$(GO) test -count=1 ./...

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || [ -x $(GOBIN)/staticcheck ] || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$(GOBIN):$$PATH" staticcheck ./...

## bench: the ingest and query benchmarks behind docs/benchmarks.md
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/...

## bench-agent: osprey-agent vs prometheus-node-exporter, CPU and RSS
bench-agent: build
	./scripts/bench-agent.sh

## proto: regenerate the agent protocol (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
proto:
	protoc -I proto --go_out=. --go_opt=module=github.com/osprey-monitoring/osprey \
		--go-grpc_out=. --go-grpc_opt=module=github.com/osprey-monitoring/osprey \
		proto/osprey/agent/v1/agent.proto

clean:
	rm -rf bin
