package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cookie and header names.
const (
	sessionCookie = "thingcore_console"
	csrfHeader    = "X-CSRF-Token"
)

// csp allows this origin only: no inline scripts or styles, no frames, no
// third-party origins.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(h http.Header, https bool) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if https {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// session is a signed-in browser.
type session struct {
	id      string // the cookie value; only its hash is kept as the map key
	csrf    string
	user    string // the access key id, or "console password"
	expires time.Time
}

// sessions holds the signed-in sessions by the SHA-256 of their cookie, so
// that a timing difference in the map lookup reveals nothing usable.
type sessions struct {
	mu  sync.Mutex
	max int
	by  map[[32]byte]*session
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *sessions) create(user string, now time.Time, ttl time.Duration) *session {
	ss := &session{id: randomToken(), csrf: randomToken(), user: user, expires: now.Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[[32]byte]*session{}
	}
	for k, v := range s.by {
		if now.After(v.expires) {
			delete(s.by, k)
		}
	}
	for len(s.by) >= s.max {
		var oldest [32]byte
		var first *session
		for k, v := range s.by {
			if first == nil || v.expires.Before(first.expires) {
				oldest, first = k, v
			}
		}
		delete(s.by, oldest)
	}
	s.by[sha256.Sum256([]byte(ss.id))] = ss
	return ss
}

func (s *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.by[k]
	if ss == nil {
		return nil
	}
	if now.After(ss.expires) {
		delete(s.by, k)
		return nil
	}
	return ss
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.by, sha256.Sum256([]byte(id)))
}

// equal compares secrets in constant time (for equal lengths; the length
// of the admin secret is not a secret).
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// stateChanging reports whether a request must carry the CSRF token.
func stateChanging(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sameOrigin refuses a browser request that says it comes from another
// origin (defence in depth beside SameSite=Strict and the CSRF token).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && !stateChanging(r.Method) {
		return true
	}
	_, host, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// authed wraps an API handler: it needs a session, and a state-changing
// request also needs the session's CSRF token and a JSON body type (which a
// cross-site form cannot send).
func (c *Console) authed(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s = c.sessions.get(ck.Value, c.now())
		}
		if s == nil {
			writeError(w, http.StatusUnauthorized, "not signed in")
			return
		}
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if stateChanging(r.Method) {
			if tok := r.Header.Get(csrfHeader); tok == "" || !equal(tok, s.csrf) {
				writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		h(w, r, s)
	}
}

type loginRequest struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Password        string `json:"password"`
}

type sessionInfo struct {
	User      string `json:"user"`
	CSRFToken string `json:"csrfToken"`
	Expires   int64  `json:"expires"` // Unix milliseconds
	Password  bool   `json:"passwordSignIn"`
}

// login: POST api/login {accessKeyId, secretAccessKey} or {password}.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	var in loginRequest
	if !readJSON(w, r, &in) {
		return
	}
	user := ""
	switch {
	case in.Password != "" && c.deps.Password != nil:
		// The check costs a PBKDF2 run: a few at once, and the rest are
		// turned away rather than queued, so a burst cannot take the CPUs.
		select {
		case c.passwordChecks <- struct{}{}:
		default:
			c.signInRefusals.warn(c.log, c.now(), "console: sign-in refused", "remote_addr", r.RemoteAddr, "reason", "too many password checks at once")
			writeError(w, http.StatusTooManyRequests, "too many sign-in attempts at once; try again")
			return
		}
		ok := c.deps.Password(in.Password)
		<-c.passwordChecks
		if ok {
			user = "console password"
		}
	case in.AccessKeyID != "":
		// Both compared, whatever the first says, to keep the timing flat.
		idOK := equal(in.AccessKeyID, c.deps.Admin.AccessKeyID)
		secretOK := equal(in.SecretAccessKey, c.deps.Admin.SecretAccessKey)
		if idOK && secretOK {
			user = in.AccessKeyID
		}
	}
	if user == "" {
		c.signInRefusals.warn(c.log, c.now(), "console: sign-in refused", "remote_addr", r.RemoteAddr, "reason", "wrong credentials")
		writeError(w, http.StatusUnauthorized, "wrong access key id, secret or password")
		return
	}
	s := c.sessions.create(user, c.now(), c.cfg.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.id, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: s.expires,
	})
	c.log.Info("console: signed in", "user", user, "remote_addr", r.RemoteAddr)
	writeJSON(w, http.StatusOK, c.info(s))
}

func (c *Console) info(s *session) sessionInfo {
	return sessionInfo{User: s.user, CSRFToken: s.csrf, Expires: s.expires.UnixMilli(), Password: c.deps.Password != nil}
}

// sessionInfo: GET api/session -> the user and the CSRF token.
func (c *Console) sessionInfo(w http.ResponseWriter, _ *http.Request, s *session) {
	writeJSON(w, http.StatusOK, c.info(s))
}

// logout: POST api/logout.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.delete(s.id)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, struct{}{})
}

// loginMethods: GET api/login -> which sign-in methods exist, and the
// session when the browser is signed in already. It needs no session, so
// that the sign-in page loads without a refused request.
func (c *Console) loginMethods(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Password bool         `json:"password"`
		Session  *sessionInfo `json:"session"`
	}{Password: c.deps.Password != nil}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if s := c.sessions.get(ck.Value, c.now()); s != nil {
			info := c.info(s)
			out.Session = &info
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxPasswordChecks bounds the console password checks (PBKDF2, hundreds
// of milliseconds of CPU each) that run at once.
const maxPasswordChecks = 2

// logEvery is the shortest interval between two refused sign-in logs.
const logEvery = time.Second

// rateLimitedLog writes at most one Warn line per logEvery and counts the
// lines it held back in the next one it writes (key "suppressed"), so that
// a flood of refused sign-ins cannot flood the log.
type rateLimitedLog struct {
	mu         sync.Mutex
	last       time.Time // when the last line was written
	suppressed int       // lines held back since then
}

func (l *rateLimitedLog) warn(log *slog.Logger, now time.Time, msg string, args ...any) {
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery && now.Sub(l.last) >= 0 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Warn(msg, args...)
}
