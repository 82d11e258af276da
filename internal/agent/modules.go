package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agent/db"
	"github.com/osprey-monitoring/osprey/internal/agent/logtail"
	"github.com/osprey-monitoring/osprey/internal/agent/urlcheck"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// configPollInterval is how often the agent asks the server which URL
// checks to run.
const configPollInterval = 30 * time.Second

// urlConfigFile keeps the last configuration the server gave, so checks
// keep running (and spooling) when the agent restarts while the server
// is down.
const urlConfigFile = "config.pb"

// spoolOutput writes what a module produced to the spool. Modules run on
// their own goroutines; the spool serialises appends.
func (a *agent) spoolOutput(md pmetric.Metrics, push *agentpb.PushRequest) {
	var errs []error
	if md.ResourceMetrics().Len() > 0 {
		body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		if err == nil {
			err = a.sp.Append(recMetrics, body)
		}
		errs = append(errs, err)
	}
	if push != nil && len(push.GetSnapshots()) > 0 {
		body, err := proto.Marshal(push)
		if err == nil {
			err = a.sp.Append(recPush, body)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		a.logger.Error("spool module output", "err", err)
	}
}

// spoolLogs writes a batch of log records to the spool. The log module
// saves its file positions after this returns, so it must not return
// before the batch is in the spool.
func (a *agent) spoolLogs(ld plog.Logs) {
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		a.logger.Error("encode log records; batch lost", "err", err, "records", ld.LogRecordCount())
		return
	}
	// A full spool drops its oldest batches rather than failing, so an
	// error here is the disk's: wait for it rather than let the module
	// move its positions past lines that were never written.
	for try := 1; ; try++ {
		err := a.sp.Append(recLogs, body)
		if err == nil {
			return
		}
		if try == spoolRetries {
			a.logger.Error("spool log records; batch lost", "err", err, "records", ld.LogRecordCount())
			return
		}
		a.logger.Warn("spool log records; retrying", "err", err, "try", try)
		time.Sleep(time.Second)
	}
}

// spoolRetries bounds how long (seconds) a log batch waits for the disk.
const spoolRetries = 30

// startModules starts the modules that run on their own schedule (db,
// url); the returned wait blocks until they have stopped after ctx ends.
func (a *agent) startModules(ctx context.Context, conn *grpc.ClientConn) (wait func(), err error) {
	var wg sync.WaitGroup
	if a.cfg.Modules.DB.Enabled {
		m, err := db.New(a.cfg.Modules.DB, a.ident.GetId(), a.cfg.Version, a.logger.With("module", "db"))
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(ctx, func(o db.Output) { a.spoolOutput(o.Metrics, o.Push) })
		}()
	}
	if a.cfg.Modules.Logs.Enabled {
		m, err := logtail.New(a.cfg.Modules.Logs, a.cfg.StateDir, a.ident, a.logger.With("module", "logs"))
		if err != nil {
			return nil, fmt.Errorf("logs module: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(ctx, a.spoolLogs)
		}()
	}
	if a.cfg.Modules.URL.Enabled {
		m := urlcheck.New(a.cfg.Modules.URL, a.ident, a.logger.With("module", "url"))
		path := filepath.Join(a.cfg.StateDir, urlConfigFile)
		version := ""
		if b, err := os.ReadFile(path); err == nil {
			var saved agentpb.ConfigResponse
			if proto.Unmarshal(b, &saved) == nil {
				version = saved.GetVersion()
				m.SetChecks(saved.GetUrlChecks())
			}
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.Run(ctx, func(o urlcheck.Output) { a.spoolOutput(o.Metrics, o.Push) })
		}()
		go func() {
			defer wg.Done()
			a.pollConfig(ctx, agentpb.NewAgentServiceClient(conn), m, path, version)
		}()
	}
	return wg.Wait, nil
}

// pollConfig asks the server for this agent's URL checks now and every
// configPollInterval, applying and saving changes.
func (a *agent) pollConfig(ctx context.Context, c agentpb.AgentServiceClient, m *urlcheck.Module, path, version string) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(configPollInterval)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.Config(cctx, &agentpb.ConfigRequest{Agent: a.ident, Version: version})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("ask the server for URL checks", "err", err)
			}
			continue
		}
		if resp.GetUnchanged() {
			continue
		}
		version = resp.GetVersion()
		m.SetChecks(resp.GetUrlChecks())
		a.logger.Info("URL checks updated", "checks", len(resp.GetUrlChecks()), "version", version)
		if b, err := proto.Marshal(resp); err == nil {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				a.logger.Warn("save URL checks", "err", err)
			}
		}
	}
}
