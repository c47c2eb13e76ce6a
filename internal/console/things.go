package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/thingcore/thingcore/examples"
	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policy"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// maxListed bounds how many things the things page lists.
const maxListed = 1000

type connection struct {
	Connected bool   `json:"connected"`
	Since     int64  `json:"since,omitempty"`  // Unix ms of the last connect or disconnect
	Reason    string `json:"reason,omitempty"` // the last disconnect's reason
}

type thingSummary struct {
	Name       string            `json:"name"`
	TypeName   string            `json:"typeName,omitempty"`
	Attributes map[string]string `json:"attributes"`
	Version    int64             `json:"version"`
	Connection connection        `json:"connection"`
}

// connected returns the client ids of the live connections.
func (c *Console) connected() map[string]bool {
	live := map[string]bool{}
	c.deps.Broker.EachPrincipal(func(id string, _ broker.Principal) { live[id] = true })
	return live
}

func (c *Console) connectionOf(name string, live map[string]bool) connection {
	conn := connection{Connected: live[name]}
	if ev, ok := c.presence.lastOf(name); ok {
		conn.Since = ev.Timestamp
		if ev.EventType == "disconnected" {
			conn.Reason = ev.DisconnectReason
		}
	}
	return conn
}

// listThings: GET api/things?q= -> things whose name or an attribute
// contains q, with their connection state.
func (c *Console) listThings(w http.ResponseWriter, r *http.Request, _ *session) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	live := c.connected()
	out := []thingSummary{}
	token := ""
	truncated := false
	for {
		page, next, err := c.deps.Registry.ListThings(r.Context(), registry.ThingFilter{}, 250, token)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, t := range page {
			if q != "" && !thingMatches(t, q) {
				continue
			}
			if len(out) == maxListed {
				truncated = true
				break
			}
			out = append(out, thingSummary{Name: t.Name, TypeName: t.TypeName, Attributes: t.Attributes,
				Version: t.Version, Connection: c.connectionOf(t.Name, live)})
		}
		if next == "" || truncated {
			break
		}
		token = next
	}
	writeJSON(w, http.StatusOK, struct {
		Things    []thingSummary `json:"things"`
		Truncated bool           `json:"truncated"`
	}{out, truncated})
}

func thingMatches(t registry.Thing, q string) bool {
	if strings.Contains(strings.ToLower(t.Name), q) {
		return true
	}
	for k, v := range t.Attributes {
		if strings.Contains(strings.ToLower(k), q) || strings.Contains(strings.ToLower(v), q) {
			return true
		}
	}
	return false
}

type certSummary struct {
	ID        string   `json:"id"`
	ARN       string   `json:"arn"`
	Status    string   `json:"status"`
	CreatedAt int64    `json:"createdAt"`
	NotAfter  int64    `json:"notAfter"`
	Policies  []string `json:"policies"`
}

// describeThing: GET api/things/{thing} -> the thing, its certificates
// with their policies, connection state and recent events.
func (c *Console) describeThing(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	t, err := c.deps.Registry.DescribeThing(ctx, r.PathValue("thing"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	principals, _, err := c.deps.Registry.ThingPrincipals(ctx, t.Name, 250, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	certs := []certSummary{}
	var ids []string
	for _, p := range principals {
		id, ok := c.deps.Registry.ParsePrincipal(p)
		if !ok {
			continue
		}
		cert, err := c.deps.Registry.Certificate(ctx, id)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		pols, err := c.deps.Policies.AttachedPolicies(ctx, cert.ARN)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		names := []string{}
		for _, p := range pols {
			names = append(names, p.Name)
		}
		ids = append(ids, cert.ID)
		certs = append(certs, certSummary{ID: cert.ID, ARN: cert.ARN, Status: string(cert.Status),
			CreatedAt: cert.CreatedAt.UnixMilli(), NotAfter: cert.NotAfter.UnixMilli(), Policies: names})
	}
	events := c.presence.eventsOf(t.Name, ids, 50)
	writeJSON(w, http.StatusOK, struct {
		thingSummary
		ARN          string           `json:"arn"`
		CreatedAt    int64            `json:"createdAt"`
		Certificates []certSummary    `json:"certificates"`
		Events       []lifecycleEvent `json:"events"`
		Refusals     []refusal        `json:"refusals"`
		Shadows      bool             `json:"shadowsAvailable"`
	}{
		thingSummary: thingSummary{Name: t.Name, TypeName: t.TypeName, Attributes: t.Attributes, Version: t.Version,
			Connection: c.connectionOf(t.Name, c.connected())},
		ARN: t.ARN, CreatedAt: t.CreatedAt.UnixMilli(), Certificates: certs, Events: events,
		Refusals: c.refusals(t.Name, ids, 20), Shadows: c.deps.Shadows != nil,
	})
}

// thingNameRE is AWS's constraint on thing names.
var thingNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

type createThingRequest struct {
	Name       string            `json:"name"`
	KeyType    string            `json:"keyType"` // "rsa" (default) or "ec"
	Attributes map[string]string `json:"attributes"`
	Board      string            `json:"board"` // optional: add the board's MicroPython project
}

type createThingResponse struct {
	Thing         string `json:"thing"`
	ThingCreated  bool   `json:"thingCreated"`
	CertificateID string `json:"certificateId"`
	Policy        string `json:"policy"`
	Download      string `json:"download"` // URL of the ZIP, valid once
	FileName      string `json:"fileName"`
	Endpoint      string `json:"endpoint"`
	Port          int    `json:"port"`
	MosquittoPub  string `json:"mosquittoPub"`
	Expires       int64  `json:"expires"` // Unix ms after which the ZIP is gone
}

// createThing: POST api/things {name, keyType, attributes} -> the thing
// (new, or existing with a new certificate), an ACTIVE certificate attached
// to it with the default thing policy, and a one-time download of the
// device files, as `thingcore thing create` makes them.
func (c *Console) createThing(w http.ResponseWriter, r *http.Request, _ *session) {
	var in createThingRequest
	if !readJSON(w, r, &in) {
		return
	}
	kt := pki.KeyType(in.KeyType)
	switch {
	case !thingNameRE.MatchString(in.Name):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("thing name %q: use 1 to 128 letters, digits, '_', '-' or ':'", in.Name))
		return
	case kt == "":
		kt = pki.KeyRSA
	case kt != pki.KeyRSA && kt != pki.KeyEC:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("key type %q: want rsa or ec", in.KeyType))
		return
	}
	var board *examples.Board
	if in.Board != "" {
		b, err := examples.LookupBoard(in.Board)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		board = &b
	}
	ctx := r.Context()
	reg := c.deps.Registry
	_, err := reg.DescribeThing(ctx, in.Name)
	existed := err == nil
	switch {
	case err != nil && !errors.Is(err, registry.ErrNotFound):
		c.fail(w, r, err)
		return
	case existed && len(in.Attributes) > 0:
		writeError(w, http.StatusConflict, "thing "+in.Name+" exists already; attributes apply to a new thing only")
		return
	case !existed:
		if _, err := reg.CreateThing(ctx, in.Name, "", in.Attributes); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	creds, err := c.deps.CA.IssueDevice(kt, c.now())
	if err != nil {
		c.fail(w, r, fmt.Errorf("console: issue device certificate: %w", err))
		return
	}
	cert, err := reg.AddCertificate(ctx, string(creds.CertificatePEM), registry.StatusActive, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := reg.AttachThingPrincipal(ctx, in.Name, cert.ARN, false); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.attachDefaultPolicy(ctx, cert.ARN); err != nil {
		c.fail(w, r, err)
		return
	}
	host, port := c.deps.Endpoint()
	dev := devicebundle.NewDevice(in.Name, host, port, cert.ID, cert.ARN, kt)
	files, err := devicebundle.Files(devicebundle.Credentials{
		CertificatePEM: creds.CertificatePEM, PrivateKeyPEM: creds.PrivateKeyPEM, PublicKeyPEM: creds.PublicKeyPEM,
	}, c.deps.RootCAPEM, dev)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if board != nil {
		extra, err := devicebundle.BoardFiles(*board, host, port, in.Name, c.deps.RootCAPEM)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		files = append(files, extra...)
	}
	var zip bytes.Buffer
	folder := fileName(in.Name)
	if err := devicebundle.WriteZip(&zip, folder, files, c.now()); err != nil {
		c.fail(w, r, err)
		return
	}
	name := folder + ".zip"
	id, expires, ok := c.downloads.add(name, zip.Bytes(), c.now())
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "the console is shutting down; create a new certificate for the thing after the restart")
		return
	}
	c.log.Info("console: created a device", "thing", in.Name, "cert_id", cert.ID, "thing_created", !existed)
	writeJSON(w, http.StatusOK, createThingResponse{
		Thing: in.Name, ThingCreated: !existed, CertificateID: cert.ID, Policy: c.cfg.DefaultPolicyName,
		Download: Prefix + "api/downloads/" + id, FileName: name, Endpoint: host, Port: port,
		MosquittoPub: mosquittoPub(host, port, in.Name), Expires: expires.UnixMilli(),
	})
}

// fileName is a thing name made safe as a file or folder name: AWS allows
// ':' in thing names, which Windows and macOS Finder do not allow in file
// names; it becomes '_'.
func fileName(thing string) string { return strings.ReplaceAll(thing, ":", "_") }

// listBoards: GET api/boards -> the boards the wizard can add a project for.
func (c *Console) listBoards(w http.ResponseWriter, _ *http.Request, _ *session) {
	type board struct {
		Name    string `json:"name"`
		Summary string `json:"summary"`
	}
	out := []board{}
	for _, b := range examples.Boards() {
		out = append(out, board{b.Name, b.Summary})
	}
	writeJSON(w, http.StatusOK, struct {
		Boards []board `json:"boards"`
	}{out})
}

// attachDefaultPolicy creates the default thing policy if it does not exist
// and attaches it to the certificate.
func (c *Console) attachDefaultPolicy(ctx context.Context, certARN string) error {
	pol := c.deps.Policies
	name := c.cfg.DefaultPolicyName
	_, err := pol.GetPolicy(ctx, name)
	if errors.Is(err, policystore.ErrNotFound) {
		_, err = pol.CreatePolicy(ctx, name, string(policy.ThingPolicy(c.cfg.Region, c.cfg.AccountID)))
		if errors.Is(err, policystore.ErrAlreadyExists) {
			err = nil // created meanwhile
		}
	}
	if err != nil {
		return err
	}
	return pol.AttachPolicy(ctx, name, certARN)
}

// mosquittoPub is the command that publishes a reported temperature from
// inside the unzipped folder.
func mosquittoPub(host string, port int, thing string) string {
	return "mosquitto_pub -h " + host + " -p " + strconv.Itoa(port) + " --cafile " + devicebundle.RootCA +
		" --cert " + devicebundle.CertPEM + " --key " + devicebundle.KeyPEM + " -i " + thing +
		" -t '" + devicebundle.ShadowTopic(thing, "update") + `' -m '{"state":{"reported":{"temperature":22}}}'`
}

// download: GET api/downloads/{id} -> the ZIP, once.
func (c *Console) download(w http.ResponseWriter, r *http.Request, _ *session) {
	d, ok := c.downloads.take(r.PathValue("id"), c.now())
	if !ok {
		writeError(w, http.StatusGone, "this download is gone: the private key is offered once (create a new certificate for the thing)")
		return
	}
	defer clear(d.data)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(d.data)))
	_, _ = w.Write(d.data)
}

// downloadTTL is how long a device bundle waits to be downloaded.
const downloadTTL = 15 * time.Minute

// maxDownloads bounds the bundles waiting to be downloaded.
const maxDownloads = 32

type pending struct {
	name    string
	data    []byte
	expires time.Time
	timer   *time.Timer // removes and wipes the entry at expires
}

// wipe zeroes the bundle (its private key) and stops its timer.
func (p *pending) wipe() {
	if p.timer != nil {
		p.timer.Stop()
	}
	clear(p.data)
}

// downloads are device bundles waiting for their one download. They hold
// private keys, so they are kept in memory only, briefly: each is wiped
// (its bytes zeroed) when its timer fires, when it is pushed out by newer
// ones, and by close; the download handler wipes a taken one once sent.
type downloads struct {
	ttl time.Duration // how long an entry waits; set by New

	mu     sync.Mutex
	by     map[string]*pending
	closed bool // by close: nothing is kept any more
}

// add keeps a bundle for its download and returns the download's id and
// when it expires; ok is false (and data wiped) once the console is closed.
func (d *downloads) add(name string, data []byte, now time.Time) (id string, expires time.Time, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		clear(data)
		return "", time.Time{}, false
	}
	if d.by == nil {
		d.by = map[string]*pending{}
	}
	d.expireLocked(now)
	for len(d.by) >= maxDownloads {
		var oldest string
		for k, v := range d.by {
			if oldest == "" || v.expires.Before(d.by[oldest].expires) {
				oldest = k
			}
		}
		d.by[oldest].wipe()
		delete(d.by, oldest)
	}
	id = randomToken()
	p := &pending{name: name, data: data, expires: now.Add(d.ttl)}
	p.timer = time.AfterFunc(d.ttl, func() { d.expire(id, p) })
	d.by[id] = p
	return id, p.expires, true
}

// expire removes and wipes p, the entry of id, if it is still waiting.
func (d *downloads) expire(id string, p *pending) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by[id] == p {
		delete(d.by, id)
		clear(p.data)
	}
}

// expireLocked removes the entries past their expiry by the console's clock
// (which the timers do not follow). d.mu must be held.
func (d *downloads) expireLocked(now time.Time) {
	for k, v := range d.by {
		if now.After(v.expires) {
			v.wipe()
			delete(d.by, k)
		}
	}
}

// take removes the entry of id and returns it; the caller wipes it once
// sent.
func (d *downloads) take(id string, now time.Time) (*pending, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	p, ok := d.by[id]
	if ok {
		p.timer.Stop()
		delete(d.by, id)
	}
	return p, ok
}

// close wipes every waiting bundle, stops their timers and keeps no more.
func (d *downloads) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for k, v := range d.by {
		v.wipe()
		delete(d.by, k)
	}
}

// len returns how many bundles wait.
func (d *downloads) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.by)
}

// setCertificateStatus: POST api/certificates/{id}/status {status} ->
// ACTIVE, INACTIVE or REVOKED; devices of a certificate that leaves ACTIVE
// are disconnected by the hub.
func (c *Console) setCertificateStatus(w http.ResponseWriter, r *http.Request, _ *session) {
	var in struct {
		Status string `json:"status"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	st := registry.CertStatus(in.Status)
	if !slices.Contains([]registry.CertStatus{registry.StatusActive, registry.StatusInactive, registry.StatusRevoked}, st) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q: want ACTIVE, INACTIVE or REVOKED", in.Status))
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if err := c.deps.Registry.UpdateCertificateStatus(r.Context(), id, st); err != nil {
		c.fail(w, r, err)
		return
	}
	if c.deps.CertificateStatusChanged != nil {
		c.deps.CertificateStatusChanged(id, st)
	}
	c.log.Info("console: certificate status changed", "cert_id", id, "status", in.Status)
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{in.Status})
}
