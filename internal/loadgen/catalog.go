package loadgen

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// The simulated application landscape: a small shop whose gateway calls
// order, catalog and user services, the order service calls payments, and
// so on. Everything that varies per request (paths, SQL literals, users) is
// rendered into pools here, once, so the hot loop only picks strings.

type stepKind uint8

const (
	stepSQL stepKind = iota
	stepHTTP
	stepInternal
	stepCall // a call to another simulated service, same trace
)

type stepTmpl struct {
	kind   stepKind
	prob   float64 // chance this step happens in a transaction
	repeat int     // up to this many extra repetitions (N+1 queries)
	name   string  // span name
	// SQL
	op, table string
	texts     []string
	// HTTP
	method string
	host   string
	port   int64
	urls   []string
	// call
	callee      string
	calleeRoute int
	// internal
	fn string
}

type routeTmpl struct {
	method, route, name string
	paths               []string
	weight              int
	method2             string // controller method wrapping the steps, if any
	steps               []stepTmpl
	failRate            float64
}

type serviceTmpl struct {
	name, lang, scope, scopeVersion string
	dbSystem, dbNS, dbHost          string
	dbPort                          int64
	port                            int64
	exception                       exceptionTmpl
	routes                          []routeTmpl
	pick                            []int // route indexes, repeated by weight
	instances                       []int // indexes into appModel.instances
}

type exceptionTmpl struct{ typ, msg, stack string }

const variants = 64

// render replaces {n} with numbers and {s} with words, for SQL literals and
// path ids.
func render(rng *rand.Rand, tmpl string, n int) []string {
	words := []string{"open", "paid", "shipped", "alice@example.com", "bob@example.com", "KR", "JP", "US", "pending", "cancelled"}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		rest := tmpl
		for {
			j := strings.IndexByte(rest, '{')
			if j < 0 || j+2 >= len(rest) || rest[j+2] != '}' {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:j])
			switch rest[j+1] {
			case 'n':
				b.WriteString(strconv.Itoa(1000 + rng.IntN(900000)))
			case 's':
				b.WriteString(words[rng.IntN(len(words))])
			default:
				b.WriteString(rest[j : j+3])
			}
			rest = rest[j+3:]
		}
		out[i] = b.String()
	}
	return out
}

func sqlStep(rng *rand.Rand, prob float64, repeat int, op, table, text string) stepTmpl {
	return stepTmpl{kind: stepSQL, prob: prob, repeat: repeat, op: op, table: table, name: op + " " + table, texts: render(rng, text, variants)}
}

func httpStep(rng *rand.Rand, prob float64, method, host string, port int64, url string) stepTmpl {
	return stepTmpl{kind: stepHTTP, prob: prob, name: method, method: method, host: host, port: port, urls: render(rng, url, variants)}
}

func callStep(prob float64, method, callee string, route int) stepTmpl {
	return stepTmpl{kind: stepCall, prob: prob, name: method, method: method, callee: callee, calleeRoute: route}
}

func fnStep(prob float64, fn string) stepTmpl {
	return stepTmpl{kind: stepInternal, prob: prob, name: fn, fn: fn}
}

func route(rng *rand.Rand, weight int, method, rt, path, wrapper string, steps ...stepTmpl) routeTmpl {
	return routeTmpl{method: method, route: rt, name: method + " " + rt, paths: render(rng, path, variants),
		weight: weight, method2: wrapper, steps: steps, failRate: 0.015}
}

var (
	javaException = exceptionTmpl{"java.sql.SQLTransientConnectionException",
		"HikariPool-1 - Connection is not available, request timed out after 30000ms.",
		"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\n\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)\n\tat com.example.shop.order.OrderRepository.findById(OrderRepository.java:42)\n\tat com.example.shop.order.OrderController.getOrder(OrderController.java:58)"}
	nodeException = exceptionTmpl{"Error", "upstream request failed: ECONNRESET",
		"Error: upstream request failed: ECONNRESET\n    at ClientRequest.<anonymous> (/app/dist/upstream.js:88:19)\n    at ClientRequest.emit (node:events:519:28)\n    at TLSSocket.socketErrorListener (node:_http_client:500:9)"}
	goException = exceptionTmpl{"*errors.errorString", "charge declined: gateway timeout",
		"goroutine 1841 [running]:\nmain.(*PaymentHandler).Charge(0xc0001a2000, {0xb3e1c8, 0xc000512000})\n\t/src/payment/handler.go:117 +0x2c5"}
	pyException = exceptionTmpl{"psycopg.errors.QueryCanceled", "canceling statement due to statement timeout",
		"Traceback (most recent call last):\n  File \"/opt/catalog/catalog/views.py\", line 73, in list_products\n    rows = cur.execute(sql, params).fetchall()\npsycopg.errors.QueryCanceled: canceling statement due to statement timeout"}
)

func shopServices(rng *rand.Rand) []*serviceTmpl {
	svcs := []*serviceTmpl{
		{
			name: "gateway", lang: "nodejs", scope: "@opentelemetry/instrumentation-http", scopeVersion: "0.57.0", port: 3000,
			exception: nodeException,
			routes: []routeTmpl{
				route(rng, 30, "GET", "/api/orders/:id", "/api/orders/{n}", "",
					fnStep(1, "authMiddleware"), callStep(1, "GET", "order-api", 0)),
				route(rng, 10, "POST", "/api/checkout", "/api/checkout", "",
					fnStep(1, "authMiddleware"), callStep(1, "POST", "order-api", 1), callStep(0.5, "POST", "notification-service", 0)),
				route(rng, 30, "GET", "/api/products", "/api/products", "",
					callStep(1, "GET", "catalog-service", 0)),
				route(rng, 15, "GET", "/api/users/:id/profile", "/api/users/{n}/profile", "",
					fnStep(1, "authMiddleware"), callStep(1, "GET", "user-service", 0)),
				route(rng, 5, "GET", "/health", "/health", ""),
			},
		},
		{
			name: "order-api", lang: "java", scope: "io.opentelemetry.spring-webmvc-6.0", scopeVersion: "2.10.0", port: 8080,
			dbSystem: "mysql", dbNS: "orders", dbHost: "mysql-orders.db.internal", dbPort: 3306, exception: javaException,
			routes: []routeTmpl{
				route(rng, 40, "GET", "/orders/{id}", "/orders/{n}", "OrderController.getOrder",
					sqlStep(rng, 1, 0, "SELECT", "orders", "SELECT o.id, o.status, o.total, o.customer_id FROM orders o WHERE o.id = {n}"),
					sqlStep(rng, 1, 6, "SELECT", "order_items", "SELECT i.sku, i.qty, i.price FROM order_items i WHERE i.order_id = {n} AND i.line_no = {n}"),
					httpStep(rng, 0.3, "GET", "inventory.partner.example", 443, "https://inventory.partner.example/api/stock/{n}"),
					fnStep(1, "OrderMapper.toDto")),
				route(rng, 20, "POST", "/orders", "/orders", "OrderController.createOrder",
					sqlStep(rng, 1, 0, "SELECT", "customers", "SELECT c.id, c.tier FROM customers c WHERE c.id = {n}"),
					fnStep(1, "OrderValidator.validate"),
					sqlStep(rng, 1, 0, "INSERT", "orders", "INSERT INTO orders (customer_id, status, total) VALUES ({n}, '{s}', {n}.50)"),
					sqlStep(rng, 1, 3, "INSERT", "order_items", "INSERT INTO order_items (order_id, sku, qty, price) VALUES ({n}, 'SKU-{n}', 1, {n}.00)"),
					callStep(0.9, "POST", "payment-service", 0),
					sqlStep(rng, 1, 0, "UPDATE", "orders", "UPDATE orders SET status = '{s}' WHERE id = {n}"),
					httpStep(rng, 0.5, "POST", "api.shipping.example.com", 443, "https://api.shipping.example.com/v2/shipments")),
				route(rng, 20, "GET", "/orders", "/orders", "OrderController.listOrders",
					sqlStep(rng, 1, 0, "SELECT", "orders", "SELECT o.id, o.status, o.total FROM orders o WHERE o.customer_id = {n} ORDER BY o.created_at DESC LIMIT 20")),
			},
		},
		{
			name: "payment-service", lang: "go", scope: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", scopeVersion: "0.58.0", port: 8080,
			dbSystem: "postgresql", dbNS: "payments", dbHost: "pg-payments.db.internal", dbPort: 5432, exception: goException,
			routes: []routeTmpl{
				route(rng, 30, "POST", "/payments", "/payments", "",
					sqlStep(rng, 1, 0, "SELECT", "accounts", "SELECT id, balance, currency FROM accounts WHERE id = {n} FOR UPDATE"),
					httpStep(rng, 1, "POST", "api.payments-gw.example", 443, "https://api.payments-gw.example/v1/charges"),
					sqlStep(rng, 1, 0, "INSERT", "payments", "INSERT INTO payments (account_id, amount, status) VALUES ({n}, {n}.00, '{s}')")),
				route(rng, 20, "GET", "/payments/{id}", "/payments/{n}", "",
					sqlStep(rng, 1, 0, "SELECT", "payments", "SELECT id, amount, status FROM payments WHERE id = {n}")),
			},
		},
		{
			name: "catalog-service", lang: "python", scope: "opentelemetry.instrumentation.django", scopeVersion: "0.50b0", port: 8000,
			dbSystem: "postgresql", dbNS: "catalog", dbHost: "pg-catalog.db.internal", dbPort: 5432, exception: pyException,
			routes: []routeTmpl{
				route(rng, 40, "GET", "/products", "/products", "ProductListView.get",
					sqlStep(rng, 1, 0, "SELECT", "products", "SELECT id, name, price FROM products WHERE category_id = {n} AND active = true LIMIT 50"),
					sqlStep(rng, 0.7, 0, "SELECT", "prices", "SELECT product_id, price FROM prices WHERE region = '{s}' AND product_id IN ({n}, {n}, {n})"),
					fnStep(1, "ProductSerializer.dump")),
				route(rng, 30, "GET", "/products/{id}", "/products/{n}", "ProductDetailView.get",
					sqlStep(rng, 1, 0, "SELECT", "products", "SELECT * FROM products WHERE id = {n}"),
					httpStep(rng, 0.3, "GET", "recommender.internal", 8080, "http://recommender.internal:8080/recs?product={n}")),
			},
		},
		{
			name: "user-service", lang: "java", scope: "io.opentelemetry.spring-webmvc-6.0", scopeVersion: "2.10.0", port: 8080,
			dbSystem: "mysql", dbNS: "users", dbHost: "mysql-users.db.internal", dbPort: 3306, exception: javaException,
			routes: []routeTmpl{
				route(rng, 40, "GET", "/users/{id}", "/users/{n}", "UserController.getUser",
					sqlStep(rng, 1, 0, "SELECT", "users", "SELECT id, email, name FROM users WHERE id = {n}"),
					sqlStep(rng, 1, 0, "SELECT", "user_roles", "SELECT role FROM user_roles WHERE user_id = {n}")),
				route(rng, 15, "POST", "/login", "/login", "AuthController.login",
					sqlStep(rng, 1, 0, "SELECT", "users", "SELECT id, password_hash FROM users WHERE email = '{s}'"),
					fnStep(1, "PasswordHasher.verify"),
					sqlStep(rng, 1, 0, "UPDATE", "users", "UPDATE users SET last_login = NOW() WHERE id = {n}")),
			},
		},
		{
			name: "notification-service", lang: "nodejs", scope: "@opentelemetry/instrumentation-http", scopeVersion: "0.57.0", port: 3000,
			dbSystem: "postgresql", dbNS: "notify", dbHost: "pg-notify.db.internal", dbPort: 5432, exception: nodeException,
			routes: []routeTmpl{
				route(rng, 1, "POST", "/notify", "/notify", "",
					sqlStep(rng, 1, 0, "INSERT", "notifications", "INSERT INTO notifications (user_id, channel, body) VALUES ({n}, '{s}', 'order {n} confirmed')"),
					httpStep(rng, 0.6, "POST", "hooks.slack.example", 443, "https://hooks.slack.example/services/T0001/B0002/{n}"),
					httpStep(rng, 0.4, "POST", "smtp-relay.example", 443, "https://smtp-relay.example/api/send")),
			},
		},
	}
	for _, s := range svcs {
		for i, r := range s.routes {
			for range r.weight {
				s.pick = append(s.pick, i)
			}
		}
	}
	return svcs
}
