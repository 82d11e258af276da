// Package sqlmask replaces literals in SQL text with ? so statements can be shown
// and grouped without the data in them. The agent's db module, the Go APM
// library and the server's span ingest share it.
package sqlmask

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMaskLiterals(t *testing.T) {
	tests := []struct {
		name string
		d    Dialect
		in   string
		want string
	}{
		{"integer", MySQL, "SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"},
		{"single quoted", MySQL, "SELECT * FROM t1 WHERE name = 'bob'", "SELECT * FROM t1 WHERE name = ?"},
		{"mysql double quoted is a string", MySQL, `WHERE a = "x\"y" AND b = 'it''s'`, "WHERE a = ? AND b = ?"},
		{"backslash escape", MySQL, `SELECT 'a\'b' , 'c'`, "SELECT ? , ?"},
		{"backquoted identifiers stay", MySQL, "SELECT `col1`, `we``ird 'x' 1` FROM `t2`", "SELECT `col1`, `we``ird 'x' 1` FROM `t2`"},
		{"number forms", MySQL, "VALUES (1, 2.5, -3, .5, 1e10, 1.5E-3, 0x1F, 0b101)", "VALUES (?, ?, -?, ?, ?, ?, ?, ?)"},
		{"prefixed strings", MySQL, "VALUES (X'AB', _utf8mb4'x', N'y', b'01')", "VALUES (?, ?, ?, ?)"},
		{"digits inside names", MySQL, "SELECT 1abc, t.c2, 2e_x FROM db1.t3", "SELECT 1abc, t.c2, 2e_x FROM db1.t3"},
		{"dash dash comment", MySQL, "SELECT 1 -- it's 5\nFROM t", "SELECT ? -- it's 5\nFROM t"},
		{"dash dash without space is minus", MySQL, "SELECT a--1", "SELECT a--?"},
		{"hash comment", MySQL, "SELECT 1 # 'x' 2", "SELECT ? # 'x' 2"},
		{"block comment", MySQL, "/* id=5 'x */ SELECT 'a'", "/* id=5 'x */ SELECT ?"},
		{"unterminated string", MySQL, "SELECT 'unterminated", "SELECT ?"},
		{"unterminated comment", MySQL, "SELECT 1 /* 'x", "SELECT ? /* 'x"},
		{"variables", MySQL, "SELECT @@max_connections, @v1 := 3", "SELECT @@max_connections, @v1 := ?"},
		{"dollar in mysql names", MySQL, "SELECT $x1 FROM t$2", "SELECT $x1 FROM t$2"},
		{"limit", MySQL, "LIMIT 10 OFFSET 20", "LIMIT ? OFFSET ?"},
		{"in list", MySQL, "WHERE id IN (1,2,3)", "WHERE id IN (?,?,?)"},
		{"arithmetic", MySQL, "SELECT 5-3", "SELECT ?-?"},
		{"placeholders stay", MySQL, "WHERE a = ? AND b = ?", "WHERE a = ? AND b = ?"},
		{"utf8", MySQL, "SELECT 'héllo', naïve1 FROM tëst", "SELECT ?, naïve1 FROM tëst"},
		{"empty", MySQL, "", ""},

		{"pg double quoted is a name", Postgres, `SELECT "Col1", 'x' FROM "my""table 1" WHERE a = $1 AND b = 2`, `SELECT "Col1", ? FROM "my""table 1" WHERE a = $1 AND b = ?`},
		{"pg standard string has no backslash escape", Postgres, `SELECT 'c\', 'd'`, "SELECT ?, ?"},
		{"pg escape string", Postgres, `SELECT E'a\'b', e'x'`, "SELECT ?, ?"},
		{"pg dollar quoting", Postgres, "SELECT $$it's 1$$, $tag$x $$ y$tag$, 3", "SELECT ?, ?, ?"},
		{"pg unterminated dollar", Postgres, "SELECT $a$ never", "SELECT ?"},
		{"pg casts", Postgres, "SELECT 1::int4, '2020-01-01'::date", "SELECT ?::int4, ?::date"},
		{"pg dollar inside names", Postgres, "SELECT a$b, c$1 FROM t", "SELECT a$b, c$1 FROM t"},
		{"pg unicode string", Postgres, `SELECT U&'d\0061t'`, "SELECT ?"},
		{"pg nested comment", Postgres, "SELECT 1 /* a /* nested 'x' */ 2 */ FROM t", "SELECT ? /* a /* nested 'x' */ 2 */ FROM t"},
		{"pg dash comment", Postgres, "SELECT x--c 'a'\nFROM t", "SELECT x--c 'a'\nFROM t"},
		{"pg params", Postgres, "SELECT $1, $23", "SELECT $1, $23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in, tt.d); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTruncateQuery(t *testing.T) {
	long := strings.Repeat("é", MaxQueryBytes) // two bytes each
	got := Truncate(long)
	if len(got) > MaxQueryBytes || !utf8.ValidString(got) {
		t.Fatalf("Truncate: len %d valid %v", len(got), utf8.ValidString(got))
	}
	if Truncate("short") != "short" {
		t.Fatal("short text changed")
	}
}

// FuzzMaskLiterals: masking never panics, never grows the text, keeps
// valid UTF-8 valid, and leaves text without quotes, digits or $ alone.
func FuzzMaskLiterals(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM t WHERE id = 42 AND name = 'x''y' -- c",
		`SELECT "a", 'b\'c', $$d$$, $t$e$t$, 1.5e-3, 0x1F, X'AB' /* f /* g */ */`,
		"INSERT INTO `t``1` VALUES (_utf8mb4'é', N'x', b'1', .5)",
		"'", `"`, "$", "$$", "$a", "/*", "--", "#", "0x", "1e", "1e+", "U&'", "E'\\",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, q string, pg bool) {
		d := MySQL
		if pg {
			d = Postgres
		}
		got := Mask(q, d)
		if len(got) > len(q) {
			t.Fatalf("grew: %d > %d: %q -> %q", len(got), len(q), q, got)
		}
		if utf8.ValidString(q) && !utf8.ValidString(got) {
			t.Fatalf("broke UTF-8: %q -> %q", q, got)
		}
		if !strings.ContainsAny(q, "'\"$0123456789") && got != q {
			t.Fatalf("changed text without literals: %q -> %q", q, got)
		}
	})
}
