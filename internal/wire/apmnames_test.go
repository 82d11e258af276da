package wire

import "testing"

func TestAPMNames(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:8080/a?b": "http://h:8080",
		"https://h/a":       "https://h",
		"http://u:p@h:1/x":  "http://h:1",
		"http://h":          "http://h",
		"http://[::1]:80/x": "http://[::1]:80",
		"/relative":         "",
		"http:///x":         "",
	} {
		if got := URLOrigin(in); got != want {
			t.Errorf("URLOrigin(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct{ sys, host, port, want string }{
		{"mariadb", "db", "3306", "mysql://db:3306"},
		{"postgresql", "::1", "5432", "postgresql://[::1]:5432"},
		{"postgresql", "", "5432", ""},
		{"redis", "cache", "", "redis://cache"},
	} {
		if got := DBTarget(tc.sys, tc.host, tc.port); got != tc.want {
			t.Errorf("DBTarget(%q, %q, %q) = %q, want %q", tc.sys, tc.host, tc.port, got, tc.want)
		}
	}
	if got := RPCText("grpc", "", "grpc.health.v1.Health/Check"); got != "grpc grpc.health.v1.Health/Check" {
		t.Errorf("RPCText, new conventions: %q", got)
	}
	if got := RPCText("grpc", "pkg.Svc", "Get"); got != "grpc pkg.Svc/Get" {
		t.Errorf("RPCText, old conventions: %q", got)
	}
}

func TestCallTarget(t *testing.T) {
	for _, tc := range []struct{ scheme, host, port, sys, svc, want string }{
		{"", "price", "9001", "", "", "http://price:9001"},
		{"https", "api", "", "", "", "https://api"},
		{"", "", "", "grpc", "pkg.Svc", "grpc:pkg.Svc"},
		{"", "10.0.0.1", "50051", "grpc", "pkg.Svc", "http://10.0.0.1:50051"},
	} {
		if got := CallTarget(tc.scheme, tc.host, tc.port, tc.sys, tc.svc); got != tc.want {
			t.Errorf("CallTarget(%q, %q, %q, %q, %q) = %q, want %q", tc.scheme, tc.host, tc.port, tc.sys, tc.svc, got, tc.want)
		}
	}
}
