using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// Issue 9, finding 3: config values must never become lines of the container spec. A newline in an
/// <c>environment.*</c> key or value is refused (directly, through a profile, by lxc), and whatever is
/// accepted reaches init and exec intact.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class SpecInjectionTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;
    private ApiClient Api => D.Api;

    private static string ConfigBody(string key, string value) =>
        JsonSerializer.Serialize(new Dictionary<string, object> { ["config"] = new Dictionary<string, string> { [key] = value } });

    private async Task<Dictionary<string, string>> ConfigAsync(string path)
    {
        var r = await Api.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        return r.Metadata.GetProperty("config").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    /// <summary>init's environment as the host sees it, one entry per NUL-terminated string.</summary>
    private async Task<string[]> InitEnvironmentAsync(string name) =>
        (await File.ReadAllTextAsync($"/proc/{await fixture.InitPidAsync(name)}/environ")).Split('\0');

    [Fact]
    public async Task A_hook_prestart_line_in_an_environment_key_or_value_is_a_400_and_never_runs()
    {
        var marker = Path.Combine(Path.GetTempPath(), "hlx-pwned-" + Guid.NewGuid().ToString("N"));
        var inject = $"a\nhook-prestart touch {marker}";
        await using var c = await fixture.LaunchAsync("inj-env");
        var path = "/1.0/instances/" + c.Name;
        var before = await ConfigAsync(path);
        await fixture.LxcOkAsync("profile", "create", "inj-p");
        try
        {
            var attempts = new (string Key, string Value, string Named)[]
            {
                ("environment.X", inject, "environment.X"),
                ($"environment.A\nhook-prestart touch {marker}\nenvironment.B", "1", "environment.A"),
                ("environment.X", "a\rb\0c", "environment.X"),
                ("environment.A=B", "1", "environment.A=B"),
                ("user.note", "a\0b", "user.note"),
            };
            foreach (var (key, value, named) in attempts)
            {
                var patch = await Api.PatchAsync(path, ConfigBody(key, value));
                Assert.True(patch.Status == HttpStatusCode.BadRequest, $"{JsonSerializer.Serialize(key)}: {patch}");
                Assert.Contains(named, patch.Error);

                var profile = await Api.PatchAsync("/1.0/profiles/inj-p", ConfigBody(key, value));
                Assert.True(profile.Status == HttpStatusCode.BadRequest, $"profile {JsonSerializer.Serialize(key)}: {profile}");
                Assert.Contains(named, profile.Error);

                var created = await Api.PostAsync("/1.0/profiles", JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["name"] = "inj-q",
                    ["config"] = new Dictionary<string, string> { [key] = value },
                }));
                Assert.True(created.Status == HttpStatusCode.BadRequest, $"profile create {JsonSerializer.Serialize(key)}: {created}");
            }
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/profiles/inj-q")).Status);

            // The stock client says the same.
            var set = await D.LxcAsync("config", "set", c.Name, "environment.X", inject);
            Assert.NotEqual(0, set.ExitCode);
            Assert.Contains("environment.X", set.Stderr);
            var profileSet = await D.LxcAsync("profile", "set", "inj-p", "environment.X", inject);
            Assert.NotEqual(0, profileSet.ExitCode);
            Assert.Contains("environment.X", profileSet.Stderr);

            // Nothing was stored, and a restart (a new spec) through the profile runs nothing on the host.
            Assert.Equal(before, await ConfigAsync(path));
            Assert.Empty(await ConfigAsync("/1.0/profiles/inj-p"));
            await fixture.LxcOkAsync("profile", "add", c.Name, "inj-p");
            await fixture.LxcOkAsync("restart", "--force", c.Name);
            Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);
            Assert.False(File.Exists(marker));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", c.Name);
            await D.LxcAsync("profile", "delete", "inj-p");
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task Environment_values_with_spaces_quotes_tabs_and_backslashes_reach_init_and_exec_intact()
    {
        var marker = Path.Combine(Path.GetTempPath(), "hlx-pwned-" + Guid.NewGuid().ToString("N"));
        var direct = $"a b=c 'single' \"double\"\ttab \\ back\\x0aslash\\\\ $(touch {marker}) ;|&";
        var fromProfile = "x  y\tz\\x20 \u00e9t\u00e9 \\";
        await fixture.LxcOkAsync("init", "busybox", "inj-vals");
        await using var c = new LaunchedContainer(fixture, "inj-vals");
        await fixture.LxcOkAsync("profile", "create", "inj-vp");
        try
        {
            await fixture.LxcOkAsync("config", "set", c.Name, "environment.DIRECT", direct);
            await fixture.LxcOkAsync("profile", "set", "inj-vp", "environment.FROM_PROFILE", fromProfile);
            await fixture.LxcOkAsync("profile", "add", c.Name, "inj-vp");
            await fixture.LxcOkAsync("start", c.Name);

            var init = await InitEnvironmentAsync(c.Name);
            Assert.Contains("DIRECT=" + direct, init);
            Assert.Contains("FROM_PROFILE=" + fromProfile, init);

            var env = (await fixture.LxcOkAsync("exec", c.Name, "--", "env")).Split('\n');
            Assert.Contains("DIRECT=" + direct, env);
            Assert.Contains("FROM_PROFILE=" + fromProfile, env);
            Assert.False(File.Exists(marker));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", c.Name);
            await D.LxcAsync("profile", "delete", "inj-vp");
            File.Delete(marker);
        }
    }
}
