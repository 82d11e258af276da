package db

import (
	"strconv"
	"strings"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// mysqlLockSource is where a server publishes who waits for whom.
type mysqlLockSource int

const (
	lockSourceNone mysqlLockSource = iota
	// lockSourceInnoDBIS: information_schema.INNODB_LOCK_WAITS and
	// INNODB_LOCKS (MySQL 5.7, MariaDB at least to 11.x).
	lockSourceInnoDBIS
	// lockSourcePerfSchema: performance_schema.data_lock_waits and
	// data_locks (MySQL 8, which dropped the information_schema views).
	lockSourcePerfSchema
)

// pickMySQLLockSource prefers the view the server still maintains: MySQL 8
// has only the performance_schema one, and it is empty while the
// performance schema is off; older servers and MariaDB have the
// information_schema ones.
func pickMySQLLockSource(tables map[string]bool, perfSchema bool) mysqlLockSource {
	switch {
	case perfSchema && tables[tblDataLockWaits] && tables[tblDataLocks] && tables[tblInnoDBTrx]:
		return lockSourcePerfSchema
	case tables[tblInnoDBLockWaits] && tables[tblInnoDBLocks] && tables[tblInnoDBTrx]:
		return lockSourceInnoDBIS
	}
	return lockSourceNone
}

// mysqlLockQuery returns the edge query for src, or "" for none. Both
// shapes select the same columns, so one scanner reads either. lastStmt
// adds the holder's last statement from events_statements_current:
// INNODB_TRX.trx_query is NULL while the holder sits idle in its
// transaction, which is exactly when someone waits for it.
func mysqlLockQuery(src mysqlLockSource, lastStmt bool) string {
	var from, lockCols, holderThread string
	switch src {
	case lockSourcePerfSchema:
		lockCols = `COALESCE(rl.LOCK_MODE, ''), COALESCE(rl.LOCK_TYPE, ''),
  COALESCE(CONCAT_WS('.', rl.OBJECT_SCHEMA, rl.OBJECT_NAME), ''), COALESCE(rl.INDEX_NAME, ''),
  COALESCE(bl.LOCK_MODE, '')`
		from = `FROM performance_schema.data_lock_waits w
JOIN information_schema.INNODB_TRX rt ON rt.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID
JOIN information_schema.INNODB_TRX bt ON bt.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID
JOIN performance_schema.data_locks rl ON rl.ENGINE = w.ENGINE AND rl.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID
JOIN performance_schema.data_locks bl ON bl.ENGINE = w.ENGINE AND bl.ENGINE_LOCK_ID = w.BLOCKING_ENGINE_LOCK_ID`
		holderThread = "w.BLOCKING_THREAD_ID"
	case lockSourceInnoDBIS:
		lockCols = `COALESCE(rl.lock_mode, ''), COALESCE(rl.lock_type, ''),
  COALESCE(rl.lock_table, ''), COALESCE(rl.lock_index, ''),
  COALESCE(bl.lock_mode, '')`
		from = `FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX rt ON rt.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX bt ON bt.trx_id = w.blocking_trx_id
JOIN information_schema.INNODB_LOCKS rl ON rl.lock_id = w.requested_lock_id
JOIN information_schema.INNODB_LOCKS bl ON bl.lock_id = w.blocking_lock_id`
		holderThread = "bth.THREAD_ID"
	default:
		return ""
	}
	last, lastJoin := "''", ""
	if lastStmt {
		last = "COALESCE(bs.SQL_TEXT, '')"
		if src == lockSourceInnoDBIS {
			lastJoin = "\nLEFT JOIN performance_schema.threads bth ON bth.PROCESSLIST_ID = bt.trx_mysql_thread_id"
		}
		lastJoin += "\nLEFT JOIN performance_schema.events_statements_current bs ON bs.THREAD_ID = " + holderThread
	}
	return `SELECT rt.trx_mysql_thread_id, bt.trx_mysql_thread_id,
  ` + lockCols + `,
  COALESCE(TIMESTAMPDIFF(SECOND, rt.trx_wait_started, NOW()), 0),
  COALESCE(rt.trx_query, ''), COALESCE(bt.trx_query, ''),
  COALESCE(TIMESTAMPDIFF(SECOND, bt.trx_started, NOW()), 0),
  COALESCE(rp.USER, ''), COALESCE(bp.USER, ''), COALESCE(bp.COMMAND, ''), COALESCE(bp.STATE, ''),
  ` + last + `
` + from + `
LEFT JOIN information_schema.PROCESSLIST rp ON rp.ID = rt.trx_mysql_thread_id
LEFT JOIN information_schema.PROCESSLIST bp ON bp.ID = bt.trx_mysql_thread_id` + lastJoin
}

// mysqlLockRow is one row of mysqlLockQuery.
type mysqlLockRow struct {
	waiterID, holderID                     int64
	mode, lockType, table, index           string
	holderMode                             string
	waitSeconds                            float64
	waiterQuery, holderQuery               string
	holderTrxSeconds                       float64
	waiterUser, holderUser                 string
	holderCommand, holderState, holderLast string
}

// mysqlLockEdges turns lock-wait rows into edges: one per waiter and
// holder (a statement waiting on several records of one holder, or a
// holder with nested statements, gives several rows), with the holder's
// query from its running statement, else its last one, and a state that
// says "idle in transaction" when it is doing nothing at all.
func mysqlLockEdges(rows []mysqlLockRow, text func(string) string) []*agentpb.DBLockWait {
	type pair struct{ w, h int64 }
	seen := make(map[pair]*agentpb.DBLockWait, len(rows))
	out := make([]*agentpb.DBLockWait, 0, len(rows))
	for _, r := range rows {
		k := pair{r.waiterID, r.holderID}
		if e := seen[k]; e != nil {
			if e.HolderQuery == "" && r.holderLast != "" {
				e.HolderQuery = text(r.holderLast)
			}
			continue
		}
		hq := r.holderQuery
		if hq == "" {
			hq = r.holderLast
		}
		e := &agentpb.DBLockWait{
			WaiterId:                 strconv.FormatInt(r.waiterID, 10),
			HolderId:                 strconv.FormatInt(r.holderID, 10),
			LockMode:                 r.mode,
			LockType:                 r.lockType,
			Table:                    unquoteMySQLName(r.table),
			Index:                    strings.Trim(r.index, "`"),
			WaitSeconds:              r.waitSeconds,
			WaiterQuery:              text(r.waiterQuery),
			HolderQuery:              text(hq),
			WaiterUser:               r.waiterUser,
			HolderUser:               r.holderUser,
			HolderState:              mysqlHolderState(r),
			HolderMode:               r.holderMode,
			HolderTransactionSeconds: r.holderTrxSeconds,
		}
		seen[k] = e
		out = append(out, e)
	}
	return out
}

func mysqlHolderState(r mysqlLockRow) string {
	switch {
	case r.holderCommand == "Sleep" && r.holderQuery == "":
		return "idle in transaction"
	case r.holderState != "":
		return r.holderState
	}
	return r.holderCommand
}

// unquoteMySQLName turns INNODB_LOCKS' "`db`.`t`" into "db.t" (a doubled
// backquote inside a name stands for one).
func unquoteMySQLName(s string) string {
	if !strings.Contains(s, "`") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '`' {
			b.WriteByte(s[i])
			continue
		}
		for i++; i < len(s); i++ {
			if s[i] == '`' {
				if i+1 < len(s) && s[i+1] == '`' {
					b.WriteByte('`')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
