// Package objects serves the list, get, create, replace and delete of a
// kind of configuration document kept in the metadata store (alert rules,
// channels, maintenance windows, URL checks), so each API states only how
// its documents are checked and shown.
package objects

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/meta"
)

const maxBody = 1 << 20

// Identity answers 401 unless the request is authenticated.
func Identity(w http.ResponseWriter, r *http.Request) (authn.Identity, bool) {
	id, ok := authn.From(r.Context())
	if !ok {
		envelope.WriteError(w, http.StatusUnauthorized, "unauthorized", "not authenticated")
	}
	return id, ok
}

// Editor answers 403 unless the user may change the project's settings.
func Editor(w http.ResponseWriter, r *http.Request) (authn.Identity, bool) {
	id, ok := Identity(w, r)
	if !ok {
		return id, false
	}
	if id.Role != meta.RoleOwner && id.Role != meta.RoleEditor && !id.User.Admin {
		envelope.WriteError(w, http.StatusForbidden, "forbidden", "a viewer cannot change project settings")
		return id, false
	}
	return id, true
}

// Decode reads a JSON body strictly (unknown fields are errors, so a typo
// does not silently keep a default).
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "request body: "+err.Error())
		return false
	}
	return true
}

// PathID is the {id} path value as a positive integer.
func PathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "id: want a positive integer, got "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// WriteMetaError answers 404 for a missing object, else 500.
func WriteMetaError(w http.ResponseWriter, err error) {
	if errors.Is(err, meta.ErrNotFound) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
}

// API is the list/get/create/replace/delete of one kind of
// configuration document.
type API[T any] struct {
	Meta  *meta.Store
	Kind  string // the meta object kind
	What  string // the name in messages, e.g. "alert rule"
	Check func(*T) error
	SetID func(*T, int64, time.Time)
	View  func(*T) any // what is served; default the document itself
	// keep, on replace, carries over from the stored document what the
	// client could not send back (write-only secrets).
	Keep func(stored, next *T)
}

func (o API[T]) Routes(mux *http.ServeMux, base string) {
	mux.HandleFunc("GET "+base, o.list)
	mux.HandleFunc("POST "+base, o.create)
	mux.HandleFunc("GET "+base+"/{id}", o.get)
	mux.HandleFunc("PUT "+base+"/{id}", o.replace)
	mux.HandleFunc("DELETE "+base+"/{id}", o.remove)
}

func (o API[T]) show(v *T) any {
	if o.View != nil {
		return o.View(v)
	}
	return v
}

func (o API[T]) decodeObj(obj meta.Object) (*T, error) {
	var v T
	if err := json.Unmarshal(obj.Body, &v); err != nil {
		return nil, fmt.Errorf("%s %d is unreadable: %w", o.What, obj.ID, err)
	}
	o.SetID(&v, obj.ID, obj.UpdatedAt)
	return &v, nil
}

func (o API[T]) list(w http.ResponseWriter, r *http.Request) {
	id, ok := Identity(w, r)
	if !ok {
		return
	}
	objs, err := o.Meta.Objects(r.Context(), id.Project.ID, o.Kind)
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	out := make([]any, 0, len(objs))
	for _, obj := range objs {
		v, err := o.decodeObj(obj)
		if err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		out = append(out, o.show(v))
	}
	envelope.WriteData(w, out)
}

func (o API[T]) get(w http.ResponseWriter, r *http.Request) {
	id, ok := Identity(w, r)
	if !ok {
		return
	}
	oid, ok := PathID(w, r)
	if !ok {
		return
	}
	obj, err := o.Meta.Object(r.Context(), id.Project.ID, o.Kind, oid)
	if err != nil {
		WriteMetaError(w, err)
		return
	}
	v, err := o.decodeObj(obj)
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	envelope.WriteData(w, o.show(v))
}

func (o API[T]) save(w http.ResponseWriter, r *http.Request, oid int64) {
	id, ok := Editor(w, r)
	if !ok {
		return
	}
	var v T
	if !Decode(w, r, &v) {
		return
	}
	if oid != 0 && o.Keep != nil {
		obj, err := o.Meta.Object(r.Context(), id.Project.ID, o.Kind, oid)
		if err != nil {
			WriteMetaError(w, err)
			return
		}
		stored, err := o.decodeObj(obj)
		if err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		o.Keep(stored, &v)
	}
	if err := o.Check(&v); err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", o.What+": "+err.Error())
		return
	}
	o.SetID(&v, 0, time.Time{})
	body, err := json.Marshal(&v)
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	newID, err := o.Meta.PutObject(r.Context(), id.Project.ID, o.Kind, oid, body)
	if err != nil {
		WriteMetaError(w, err)
		return
	}
	o.SetID(&v, newID, time.Now().UTC())
	code := http.StatusOK
	if oid == 0 {
		w.Header().Set("Location", r.URL.Path+"/"+strconv.FormatInt(newID, 10))
		code = http.StatusCreated
	}
	envelope.WriteJSON(w, code, map[string]any{"status": "success", "data": o.show(&v)})
}

func (o API[T]) create(w http.ResponseWriter, r *http.Request) { o.save(w, r, 0) }

func (o API[T]) replace(w http.ResponseWriter, r *http.Request) {
	if oid, ok := PathID(w, r); ok {
		o.save(w, r, oid)
	}
}

func (o API[T]) remove(w http.ResponseWriter, r *http.Request) {
	id, ok := Editor(w, r)
	if !ok {
		return
	}
	oid, ok := PathID(w, r)
	if !ok {
		return
	}
	if err := o.Meta.DeleteObject(r.Context(), id.Project.ID, o.Kind, oid); err != nil {
		WriteMetaError(w, err)
		return
	}
	envelope.WriteData(w, map[string]any{"deleted": oid})
}
