package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/osprey-monitoring/osprey/internal/loadgen"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/server"
)

// The admin commands work on the metadata database directly; SQLite's WAL
// mode lets them run while the server does. Keys are cached by the server
// for up to 10 s, so a rotated key stops working within that time.

func openMeta(ctx context.Context, dataDir string) (*meta.Store, error) {
	path := filepath.Join(dataDir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no Osprey data in %s (start `osprey server --data-dir %s` once first): %w", dataDir, dataDir, err)
	}
	return meta.Open(ctx, path)
}

func adminFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "the server's data directory")
	return fs, dataDir
}

// parseInterleaved lets flags come after positional arguments
// ("project create web --data-dir x"), which the flag package alone does not.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runProject(ctx context.Context, args []string, out io.Writer) error {
	fs, dataDir := adminFlags("osprey project")
	key := fs.String("key", "", "the access key to set (random when empty)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: osprey project create NAME | list | rotate-key NAME")
	}
	m, err := openMeta(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer m.Close()
	switch pos[0] {
	case "create":
		if len(pos) != 2 {
			return errors.New("usage: osprey project create NAME [--key KEY]")
		}
		p, k, err := m.CreateProject(ctx, pos[1], *key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "project %s created (id %d)\naccess key (shown once): %s\n", p.Name, p.ID, k)
	case "list":
		ps, err := m.Projects(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKEY PREFIX\tCREATED")
		for _, p := range ps {
			fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\n", p.ID, p.Name, p.KeyPrefix, p.CreatedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "rotate-key":
		if len(pos) != 2 {
			return errors.New("usage: osprey project rotate-key NAME [--key KEY]")
		}
		k, err := m.RotateKey(ctx, pos[1], *key)
		if err != nil {
			return err
		}
		if err := server.KeepLocalAgentKey(*dataDir, pos[1], k); err != nil {
			return err
		}
		fmt.Fprintf(out, "new access key for %s (shown once; the old key stops working within 10 s): %s\n", pos[1], k)
	default:
		return fmt.Errorf("unknown project command %q", pos[0])
	}
	return nil
}

func runUser(ctx context.Context, args []string, out io.Writer) error {
	fs, dataDir := adminFlags("osprey user")
	admin := fs.Bool("admin", false, "the user administers every project")
	project := fs.String("project", "", "make the user a member of this project")
	role := fs.String("role", meta.RoleViewer, "role in --project: owner, editor or viewer")
	password := fs.String("password", "", "the password (default: $OSPREY_PASSWORD)")
	tokenName := fs.String("name", "cli", "a name for the API token")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: osprey user add NAME | list | passwd NAME | token NAME")
	}
	if *password == "" {
		*password = os.Getenv("OSPREY_PASSWORD")
	}
	m, err := openMeta(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer m.Close()
	switch pos[0] {
	case "add":
		if len(pos) != 2 {
			return errors.New("usage: osprey user add NAME [--password P] [--admin] [--project P --role R]")
		}
		generated := false
		if *password == "" {
			*password, generated = meta.NewSecret("")[:16], true
		}
		u, err := m.CreateUser(ctx, pos[1], *password, *admin)
		if err != nil {
			return err
		}
		if *project != "" {
			p, err := m.ProjectByName(ctx, *project)
			if err != nil {
				return err
			}
			if err := m.SetMember(ctx, u.ID, p.ID, *role); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "user %s created\n", u.Name)
		if generated {
			fmt.Fprintf(out, "password (shown once): %s\n", *password)
		}
	case "list":
		us, err := m.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tADMIN\tPROJECTS")
		for _, u := range us {
			ms, err := m.Memberships(ctx, u)
			if err != nil {
				return err
			}
			projects := ""
			for i, mb := range ms {
				if i > 0 {
					projects += ", "
				}
				projects += mb.Project.Name + ":" + mb.Role
			}
			fmt.Fprintf(tw, "%d\t%s\t%v\t%s\n", u.ID, u.Name, u.Admin, projects)
		}
		return tw.Flush()
	case "passwd":
		if len(pos) != 2 {
			return errors.New("usage: osprey user passwd NAME --password P (or $OSPREY_PASSWORD)")
		}
		if *password == "" {
			return errors.New("give the new password with --password or $OSPREY_PASSWORD")
		}
		if err := m.SetPassword(ctx, pos[1], *password); err != nil {
			return err
		}
		fmt.Fprintf(out, "password of %s changed; their sessions are closed\n", pos[1])
	case "token":
		if len(pos) != 2 {
			return errors.New("usage: osprey user token NAME [--name TOKEN-NAME]")
		}
		u, err := m.UserByName(ctx, pos[1])
		if err != nil {
			return err
		}
		tok, err := m.CreateToken(ctx, u.ID, *tokenName)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "API token for %s (shown once; send as 'Authorization: Bearer TOKEN'): %s\n", u.Name, tok)
	default:
		return fmt.Errorf("unknown user command %q", pos[0])
	}
	return nil
}

func runLoadgen(ctx context.Context, args []string, out io.Writer) error {
	return loadgen.Main(ctx, args, out)
}
