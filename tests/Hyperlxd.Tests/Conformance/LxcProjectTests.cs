using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: projects with the stock lxc 5.0.2 client — a project with its own images does not see the
/// default project's, is refused past limits.instances, lists what it holds in used_by, keeps its
/// instances apart, and is renamed/deleted only when empty.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcProjectTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private Task<string> LxcFailsAsync(params string[] args) => D.LxcFailsAsync(args);

    private async Task<List<string>> UsedByAsync(string project)
    {
        var r = await D.Api.GetAsync("/1.0/projects/" + project);
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return r.Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()!).OrderBy(s => s, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task A_project_with_its_own_images_is_separate_limited_and_lists_what_it_uses()
    {
        try
        {
            await LxcOkAsync("project", "create", "pimg", "-c", "features.images=true", "-c", "limits.instances=2");
            var show = await LxcOkAsync("project", "show", "pimg");
            Assert.Contains("features.images: \"true\"", show);
            Assert.Contains("features.profiles: \"true\"", show); // LXD's default features
            Assert.Contains("limits.instances: \"2\"", show);

            // It cannot see the default project's image (nor its alias), and cannot launch from it.
            // (The shared daemon may hold other tests' images too: the busybox alias names the one to look for.)
            var fp = System.Text.Json.JsonDocument.Parse(await LxcOkAsync("query", "/1.0/images/aliases/busybox")).RootElement.GetProperty("target").GetString()!;
            Assert.Matches("^[0-9a-f]{64}$", fp);
            Assert.Contains(fp, await LxcOkAsync("image", "list", "--format", "csv", "-c", "F"));
            Assert.Equal("", (await LxcOkAsync("image", "list", "--project", "pimg", "--format", "csv", "-c", "F")).Trim());
            Assert.Contains("not found", await LxcFailsAsync("launch", "busybox", "nope", "--project", "pimg"), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/images/{fp}?project=pimg")).Status);

            // Importing the same tarball adds the image to the project, with an alias of its own.
            await LxcOkAsync("image", "import", ImageFixture.Busybox, "--alias", "bb", "--project", "pimg");
            Assert.Equal(fp, (await LxcOkAsync("image", "list", "--project", "pimg", "--format", "csv", "-c", "F")).Trim());
            Assert.Equal("bb", (await LxcOkAsync("image", "alias", "list", "--project", "pimg", "--format", "csv")).Split(',')[0].Trim());
            Assert.DoesNotContain("bb", await LxcOkAsync("image", "alias", "list", "--format", "csv"));
            Assert.Contains("busybox", await LxcOkAsync("image", "alias", "list", "--format", "csv"));

            // Its own default profile (empty, as LXD makes it) gets the root disk.
            Assert.Equal("", (await LxcOkAsync("profile", "device", "list", "default", "--project", "pimg")).Trim());
            await LxcOkAsync("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "pimg");
            Assert.Equal("root", (await LxcOkAsync("profile", "device", "list", "default", "--project", "pimg")).Trim());
            Assert.Equal("Default LXD profile", (await D.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("description").GetString());

            await LxcOkAsync("launch", "bb", "c1", "--project", "pimg");
            await LxcOkAsync("init", "bb", "c2", "--project", "pimg");
            var refused = await LxcFailsAsync("launch", "bb", "c3", "--project", "pimg");
            Assert.Contains("Reached maximum number of instances in project \"pimg\"", refused);
            Assert.Contains("limits.instances", refused);

            // Instances are listed per project, by their own names.
            Assert.Equal(new[] { "c1", "c2" }, (await LxcOkAsync("list", "--project", "pimg", "-c", "n", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.DoesNotContain("c1", (await LxcOkAsync("list", "-c", "n", "--format", "csv")).Split('\n'));
            Assert.Equal("in pimg", (await LxcOkAsync("exec", "c1", "--project", "pimg", "--", "echo", "in", "pimg")).Trim());
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/c1")).Status);
            var c1 = await D.Api.GetAsync("/1.0/instances/c1?project=pimg");
            Assert.Equal("c1", c1.Metadata.GetProperty("name").GetString());
            Assert.Equal("pimg", c1.Metadata.GetProperty("project").GetString());
            Assert.Equal(new[] { "default" }, c1.Metadata.GetProperty("profiles").EnumerateArray().Select(e => e.GetString()));

            // pylxd 2.2.10 has no projects: it works in the default project and never sees these.
            var py = await D.PythonAsync("import warnings, pylxd\nwarnings.simplefilter('ignore')\nc = pylxd.Client()\n"
                + "print(sorted(x.name for x in c.containers.all()))\nprint(c.containers.exists('c1'))\nprint(','.join(sorted(x.fingerprint for x in c.images.all())))");
            Assert.True(py.ExitCode == 0, py.ToString());
            var pyLines = py.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.DoesNotContain("'c1'", pyLines[0]);
            Assert.Equal("False", pyLines[1]);
            // Its images are the default project's (the shared daemon may hold other tests' images too).
            var defaultImages = (await LxcOkAsync("image", "list", "--format", "csv", "-c", "F")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToList();
            var pyImages = pyLines[2].Split(',');
            Assert.Equal(defaultImages.Count, pyImages.Length);
            Assert.All(defaultImages, short12 => Assert.Contains(pyImages, full => full.StartsWith(short12, StringComparison.Ordinal)));

            // Snapshot URLs show the name and the project, never the storage key.
            await LxcOkAsync("snapshot", "c1", "s0", "--project", "pimg");
            var snaps = await D.Api.GetAsync("/1.0/instances/c1/snapshots?project=pimg");
            Assert.Equal("/1.0/instances/c1/snapshots/s0?project=pimg", snaps.Metadata[0].GetString());

            Assert.Equal(new[]
            {
                $"/1.0/images/{fp}?project=pimg",
                "/1.0/instances/c1?project=pimg",
                "/1.0/instances/c2?project=pimg",
                "/1.0/profiles/default?project=pimg",
            }, await UsedByAsync("pimg"));
            Assert.DoesNotContain(await UsedByAsync("default"), u => u.Contains("pimg", StringComparison.Ordinal) || u.StartsWith("/1.0/instances/c", StringComparison.Ordinal));

            // lxc project list counts them; lxc project info shows the instance limit in use.
            var row = (await LxcOkAsync("project", "list", "--format", "csv")).Split('\n').Single(l => l.StartsWith("pimg,", StringComparison.Ordinal));
            Assert.EndsWith(",4", row.Trim());
            var info = await LxcOkAsync("project", "info", "pimg", "--format", "csv");
            Assert.Contains("INSTANCES,2,2", info.ToUpperInvariant());

            // Its own custom volumes (features.storage.volumes, on by default): listed there and in its used_by, not in default's.
            await LxcOkAsync("storage", "volume", "create", "default", "v1", "--project", "pimg");
            Assert.Contains("custom,v1", await LxcOkAsync("storage", "volume", "list", "default", "--project", "pimg", "--format", "csv", "-c", "tn"));
            Assert.DoesNotContain("custom,v1", await LxcOkAsync("storage", "volume", "list", "default", "--format", "csv", "-c", "tn"));
            Assert.Contains("/1.0/storage-pools/default/volumes/custom/v1?project=pimg", await UsedByAsync("pimg"));
            await LxcOkAsync("storage", "volume", "delete", "default", "v1", "--project", "pimg");

            // lxc project switch (client-side) makes it the default of later commands.
            await LxcOkAsync("project", "switch", "pimg");
            try
            {
                Assert.Equal(new[] { "c1", "c2" }, (await LxcOkAsync("list", "-c", "n", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
            finally
            {
                await LxcOkAsync("project", "switch", "default");
            }

            // Not empty: not deleted, not renamed; features fixed while in use.
            Assert.Contains("Only empty projects can be removed", await LxcFailsAsync("project", "delete", "pimg"));
            Assert.Contains("Only empty projects can be renamed", await LxcFailsAsync("project", "rename", "pimg", "pimg2"));
            Assert.Contains("features.images", await LxcFailsAsync("project", "set", "pimg", "features.images=false"));
            Assert.Contains("limits.instances", await LxcFailsAsync("project", "set", "pimg", "limits.instances=1"));

            await LxcOkAsync("delete", "--force", "c1", "c2", "--project", "pimg");
            // Deleting the project's image leaves the default project's copy in place.
            await LxcOkAsync("image", "delete", "bb", "--project", "pimg");
            Assert.Contains(fp, (await LxcOkAsync("image", "list", "--format", "csv", "-c", "F")).Split('\n').Select(l => l.Trim()));
            await LxcOkAsync("launch", "busybox", "after-project", "--ephemeral");
            await LxcOkAsync("delete", "--force", "after-project");

            Assert.Equal(new[] { "/1.0/profiles/default?project=pimg" }, await UsedByAsync("pimg"));
            await LxcOkAsync("project", "rename", "pimg", "pimg2");
            Assert.Contains("root", await LxcOkAsync("profile", "device", "list", "default", "--project", "pimg2"));
            await LxcOkAsync("project", "delete", "pimg2");
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/projects/pimg2")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances?project=pimg2")).Status);
        }
        finally
        {
            await D.LxcAsync("project", "switch", "default");
            foreach (var p in new[] { "pimg", "pimg2" })
            {
                foreach (var c in new[] { "c1", "c2", "c3" })
                {
                    await D.LxcAsync("delete", "--force", c, "--project", p);
                }
                await D.LxcAsync("image", "delete", "bb", "--project", p);
                await D.LxcAsync("storage", "volume", "delete", "default", "v1", "--project", p);
                await D.LxcAsync("project", "delete", p);
            }
        }
    }

    [Fact]
    public async Task Lxc_import_puts_a_backup_into_the_project_within_its_limits()
    {
        const string p = "pimp";
        var tarball = Path.Combine(D.Dir, "pimp-src.tar.gz");
        try
        {
            await LxcOkAsync("project", "create", p, "-c", "features.images=false", "-c", "features.profiles=false", "-c", "limits.instances=1");
            await LxcOkAsync("launch", "busybox", "pimp-src");
            await LxcOkAsync("exec", "pimp-src", "--", "sh", "-c", "echo kept > /root/data");
            await LxcOkAsync("stop", "pimp-src", "--force");
            await LxcOkAsync("export", "pimp-src", tarball);

            // Into the project under the tarball's name, beside the default project's instance of that name.
            await LxcOkAsync("import", tarball, "--project", p);
            Assert.Equal(new[] { "pimp-src" }, (await LxcOkAsync("list", "--project", p, "-c", "n", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal(p, (await D.Api.GetAsync($"/1.0/instances/pimp-src?project={p}")).Metadata.GetProperty("project").GetString());
            await LxcOkAsync("start", "pimp-src", "--project", p);
            Assert.Equal("kept\n", await LxcOkAsync("exec", "pimp-src", "--project", p, "--", "cat", "/root/data"));

            // The project's limits hold for imports too; the name taken there is a 409 naming it.
            Assert.Contains("limits.instances", await LxcFailsAsync("import", tarball, "pimp-second", "--project", p));
            await LxcOkAsync("project", "set", p, "limits.instances=5");
            Assert.Contains("Instance \"pimp-src\" already exists", await LxcFailsAsync("import", tarball, "--project", p));
        }
        finally
        {
            File.Delete(tarball);
            await D.LxcAsync("delete", "--force", "pimp-src", "--project", p);
            await D.LxcAsync("delete", "--force", "pimp-second", "--project", p);
            await D.LxcAsync("delete", "--force", "pimp-src");
            await D.LxcAsync("project", "delete", p);
        }
    }

    [Fact]
    public async Task Every_read_command_of_lxc_takes_project()
    {
        const string p = "pall";
        try
        {
            await LxcOkAsync("project", "create", p);
            var commands = new[]
            {
                new[] { "list" }, new[] { "info" }, new[] { "image", "list" }, new[] { "image", "alias", "list" },
                new[] { "profile", "list" }, new[] { "profile", "show", "default" }, new[] { "network", "list" },
                new[] { "storage", "list" }, new[] { "storage", "show", "default" }, new[] { "storage", "info", "default" },
                new[] { "storage", "volume", "list", "default" }, new[] { "operation", "list" }, new[] { "warning", "list" },
                new[] { "project", "info", p }, new[] { "project", "show", p }, new[] { "config", "trust", "list" },
            };
            foreach (var command in commands)
            {
                var r = await D.LxcAsync(command.Concat(new[] { "--project", p }).ToArray());
                Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', command)} --project {p}: {r}");
            }
        }
        finally
        {
            await D.LxcAsync("project", "delete", p);
        }
    }

    [Fact]
    public async Task The_default_project_is_updated_but_never_renamed_deleted_or_changed_in_features()
    {
        await LxcOkAsync("project", "set", "default", "user.owner=ops");
        try
        {
            Assert.Contains("user.owner: ops", await LxcOkAsync("project", "show", "default"));
            var put = await D.Api.SendAsync(HttpMethod.Put, "/1.0/projects/default",
                """{"description": "Main", "config": {"features.images": "true", "features.networks": "true", "features.profiles": "true", "features.storage.volumes": "true", "user.owner": "dev"}}""");
            Assert.True(put.Status == HttpStatusCode.OK, put.ToString());
            var shown = await LxcOkAsync("project", "show", "default");
            Assert.Contains("user.owner: dev", shown);
            Assert.Contains("description: Main", shown);
            Assert.Contains("You can't change the features of the default project", await LxcFailsAsync("project", "set", "default", "features.images=false"));
            Assert.Contains("cannot be renamed", await LxcFailsAsync("project", "rename", "default", "other"));
            Assert.Contains("cannot be deleted", await LxcFailsAsync("project", "delete", "default"));
            Assert.Contains("Invalid project configuration key \"bogus.key\"", await LxcFailsAsync("project", "set", "default", "bogus.key=1"));
            Assert.Contains("underscores", await LxcFailsAsync("project", "create", "bad_name"));
            var unknown = await D.Api.GetAsync("/1.0/instances?project=nosuch");
            Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
            Assert.Equal("Project not found", unknown.Error);
        }
        finally
        {
            await D.Api.SendAsync(HttpMethod.Patch, "/1.0/projects/default", """{"description": "Default LXD project"}""");
            await D.LxcAsync("project", "unset", "default", "user.owner");
        }
    }

    [Fact]
    public async Task Restricted_projects_and_aggregate_limits_refuse_with_the_key_that_forbids()
    {
        try
        {
            await LxcOkAsync("project", "create", "prest", "-c", "features.images=false", "-c", "restricted=true", "-c", "limits.memory=256MiB");
            await LxcOkAsync("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", "prest");

            var privileged = await LxcFailsAsync("launch", "busybox", "r1", "--project", "prest", "-c", "security.privileged=true", "-c", "limits.memory=64MiB");
            Assert.Contains("restricted.containers.privilege", privileged);
            var nesting = await LxcFailsAsync("launch", "busybox", "r1", "--project", "prest", "-c", "security.nesting=true", "-c", "limits.memory=64MiB");
            Assert.Contains("restricted.containers.nesting", nesting);
            var noMemory = await LxcFailsAsync("launch", "busybox", "r1", "--project", "prest");
            Assert.Contains("limits.memory", noMemory);
            Assert.Contains("Reached maximum aggregate value \"256MiB\" for \"limits.memory\"",
                await LxcFailsAsync("launch", "busybox", "r1", "--project", "prest", "-c", "limits.memory=512MiB"));
            Assert.Contains("restricted.snapshots", await SnapshotRefusalAsync());

            // Its images are the default project's (features.images=false): busybox is there.
            await LxcOkAsync("launch", "busybox", "r1", "--project", "prest", "-c", "limits.memory=128MiB");
            Assert.Contains("Reached maximum aggregate value", await LxcFailsAsync("config", "set", "r1", "limits.memory=300MiB", "--project", "prest"));
            Assert.Contains("\"limits.memory\" is too low", await LxcFailsAsync("project", "set", "prest", "limits.memory=64MiB"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "r1", "--project", "prest");
            await D.LxcAsync("project", "delete", "prest");
        }

        async Task<string> SnapshotRefusalAsync()
        {
            await LxcOkAsync("init", "busybox", "r0", "--project", "prest", "-c", "limits.memory=64MiB");
            try
            {
                return await LxcFailsAsync("snapshot", "r0", "--project", "prest");
            }
            finally
            {
                await LxcOkAsync("delete", "r0", "--project", "prest");
            }
        }
    }

    [Fact]
    public async Task Ansible_lxd_project_creates_and_updates_projects_including_default()
    {
        var dir = Repo.TempDir("hlx-ansible-project-");
        try
        {
            // Full configs (a PUT each): Debian's lxd_project merge_project=true never merges nested config
            // (its _merge_dicts drops the nested result), so it would report "ok" without sending anything.
            var playbook = Path.Combine(dir, "projects.yml");
            await File.WriteAllTextAsync(playbook, $$"""
                - hosts: localhost
                  connection: local
                  gather_facts: false
                  tasks:
                    - name: create
                      community.general.lxd_project:
                        name: ansp
                        url: unix:{{D.Socket}}
                        description: made by ansible
                        config:
                          features.images: "false"
                          limits.instances: "3"
                    - name: update
                      community.general.lxd_project:
                        name: ansp
                        url: unix:{{D.Socket}}
                        description: made by ansible
                        config:
                          features.images: "false"
                          features.profiles: "true"
                          features.storage.volumes: "true"
                          limits.instances: "5"
                    - name: update default
                      community.general.lxd_project:
                        name: default
                        url: unix:{{D.Socket}}
                        description: Default LXD project
                        config:
                          features.images: "true"
                          features.networks: "true"
                          features.profiles: "true"
                          features.storage.volumes: "true"
                          user.managed-by: ansible
                """);
            var env = new Dictionary<string, string> { ["HOME"] = dir, ["ANSIBLE_LOCAL_TEMP"] = Path.Combine(dir, "tmp"), ["ANSIBLE_NOCOLOR"] = "1" };
            var r = await D.RunInNetnsAsync("ansible-playbook", ["-i", "localhost,", playbook], env);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(r.Stdout.Contains("changed=3", StringComparison.Ordinal), r.ToString());

            var p = (await D.Api.GetAsync("/1.0/projects/ansp")).Metadata;
            Assert.Equal("made by ansible", p.GetProperty("description").GetString());
            Assert.Equal("5", p.GetProperty("config").GetProperty("limits.instances").GetString());
            Assert.Equal("false", p.GetProperty("config").GetProperty("features.images").GetString());
            var d = (await D.Api.GetAsync("/1.0/projects/default")).Metadata.GetProperty("config");
            Assert.Equal("ansible", d.GetProperty("user.managed-by").GetString());
            Assert.Equal("true", d.GetProperty("features.images").GetString());

            // The final state again (without the create task, whose config the update changed): nothing to do.
            var final = Path.Combine(dir, "final.yml");
            var text = await File.ReadAllTextAsync(playbook);
            var start = text.IndexOf("    - name: create", StringComparison.Ordinal);
            await File.WriteAllTextAsync(final, text.Remove(start, text.IndexOf("    - name: update", StringComparison.Ordinal) - start));
            var again = await D.RunInNetnsAsync("ansible-playbook", ["-i", "localhost,", final], env);
            Assert.True(again.ExitCode == 0, again.ToString());
            Assert.True(again.Stdout.Contains("changed=0", StringComparison.Ordinal), again.ToString());
        }
        finally
        {
            await D.LxcAsync("project", "delete", "ansp");
            await D.LxcAsync("project", "unset", "default", "user.managed-by");
            Directory.Delete(dir, true);
        }
    }
}
