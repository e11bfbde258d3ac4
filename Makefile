# Ticketing: `make up` runs the whole platform on this machine, `make test` runs every test.
SHELL := /bin/bash
MODULES := common testkit auth tickets orders expiration payments clustertest devstack infra loadtest
GO_PKGS := $(foreach m,$(MODULES),./$(m)/...)
GOBIN ?= $(shell go env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

.PHONY: test test-client test-go build lint tools bench k8s-dryrun up down clean smoke e2e devstack dlq

test: tools lint test-go test-client e2e

# The client's unit tests (node --test).
test-client:
	cd client && npm test

# The first line says what runs MongoDB, NATS and Redis for the tests:
# containers where a Docker engine answers, the embedded servers otherwise.
test-go:
	@go test -count=1 -run '^TestBackend$$' -v ./testkit/ | grep 'testkit:' || true
	go test -race -count=1 -timeout 20m $(GO_PKGS)

build:
	go build -o bin/ ./auth ./tickets ./orders ./expiration ./payments

# gofmt, then in every module: go vet, golangci-lint (.golangci.yml, which
# includes staticcheck), go.mod tidy, and a build and vet outside the
# workspace (each module builds on its own).
lint: tools
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PKGS)
	@set -e; for m in $(MODULES); do \
	  echo "lint $$m"; \
	  (cd $$m && golangci-lint run --allow-parallel-runners ./... && GOWORK=off go mod tidy -diff && \
	    GOWORK=off go build ./... && GOWORK=off go vet ./...) || { echo "lint failed in $$m"; exit 1; }; \
	done

# stripe-mock serves Stripe's API shape locally for tests and `make up`;
# golangci-lint is pinned for `make lint`.
tools:
	@command -v stripe-mock >/dev/null || go install github.com/stripe/stripe-mock@v0.203.0
	@golangci-lint version 2>/dev/null | grep -q ' 2\.15\.0 ' || go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

bench:
	go test -run '^$$' -bench . -benchmem $(GO_PKGS)

# A real kube-apiserver (embedded etcd) inside a Go test takes the rendered
# manifests with server-side dry runs. Its own module, outside the workspace:
# about 8 minutes to compile cold, seconds when cached.
k8s-dryrun:
	cd infra/apiserver && GOWORK=off go test -count=1 -timeout 45m ./...

devstack:
	go build -o bin/devstack ./devstack

# The whole platform on this machine; Ctrl-C stops it. Settings as variables, e.g.
# make up ORDER_EXPIRATION_WINDOW=10s GATEWAY_ADDR=127.0.0.1:8081 DEVSTACK_SKIP=client
up: tools devstack
	exec bin/devstack

down: devstack
	bin/devstack down

clean: down
	rm -rf "$${DATA_DIR:-.data}" bin/devstack

# The full flow with curl against a running platform (make up).
smoke:
	bash scripts/smoke.sh

# The client's browser tests against a fresh platform of its own.
e2e: tools
	bash scripts/e2e.sh

# The dead-letter stream of the platform `make up` runs: `make dlq` lists it,
# `make dlq ARGS="replay -all"` replays it. NATS_URL names another server.
ARGS ?= list
dlq:
	@url="$${NATS_URL:-$$(jq -r .nats "$${DATA_DIR:-.data}/devstack.json" 2>/dev/null)}"; \
	  NATS_URL="$$url" go run ./common/cmd/dlq $(ARGS)

# The load generator against the platform `make up` runs (its gateway URL from
# .data/devstack.json, or LOADTEST_BASE): sign up, list, sell, order, pay,
# complete, purchase and a many-buyers race, with throughput and p50/p90/p99
# per step, e.g. make loadtest ARGS="-c 16 -d 30s". auth allows 300 sign-ups a
# minute per address, so raise its limits first or the sign-up step fails:
# make up RATE_LIMIT_PER_ADDR=100000 RATE_LIMIT_PER_EMAIL=100000
.PHONY: loadtest
loadtest: ARGS =
loadtest:
	go run ./loadtest $(ARGS)

# A local certificate authority and, signed by it, the certificate for
# ticketing.dev that the Kubernetes edge serves, in infra/.tls (git-ignored;
# private keys included). Prints the command that puts the certificate in
# the cluster's Secret and how to trust the CA (infra/README.md, step 4).
# The CA is kept across runs, so a browser that trusts it keeps trusting the
# certificate, which each run issues anew.
.PHONY: tls
tls:
	go run ./infra/cmd/tls -dir infra/.tls
