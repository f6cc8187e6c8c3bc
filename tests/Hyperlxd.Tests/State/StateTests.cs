using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.State;

public sealed class StateTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Migrations_are_idempotent_and_recorded()
    {
        await Migrations.ApplyAsync(pg.Db, NullLogger.Instance, CancellationToken.None);
        var versions = await pg.Db.RunAsync(async (conn, ct) =>
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*), max(version) FROM schema_migrations", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            return (r.GetInt64(0), r.GetInt32(1));
        }, CancellationToken.None);
        Assert.Equal((Migrations.Latest, Migrations.Latest), ((int)versions.Item1, versions.Item2));
    }

    [Fact]
    public async Task The_default_profile_exists_and_profiles_round_trip()
    {
        var repo = new ProfileRepository(pg.Db);
        Assert.Equal("default", (await repo.GetAsync("default", default)).Name);
        var p = new Profile
        {
            Name = "st-p",
            Config = new() { ["limits.cpu"] = "2" },
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = "default" } },
        };
        await repo.CreateAsync(p, default);
        await Assert.ThrowsAsync<ConflictException>(() => repo.CreateAsync(p, default));
        var back = await repo.GetAsync("st-p", default);
        Assert.Equal("2", back.Config["limits.cpu"]);
        Assert.Equal("/", back.Devices["root"]["path"]);
        await repo.RenameAsync("st-p", "st-q", default);
        await Assert.ThrowsAsync<NotFoundException>(() => repo.GetAsync("st-p", default));
        await Assert.ThrowsAsync<ConflictException>(() => repo.RenameAsync("st-q", "default", default));
        await repo.DeleteAsync("st-q", default);
        await Assert.ThrowsAsync<NotFoundException>(() => repo.DeleteAsync("st-q", default));
    }

    [Fact]
    public async Task A_failed_update_is_rolled_back()
    {
        var repo = new ProfileRepository(pg.Db);
        await repo.CreateAsync(new Profile { Name = "st-rb", Description = "before" }, default);
        await Assert.ThrowsAsync<BadRequestException>(() => repo.UpdateAsync("st-rb", p =>
        {
            p.Description = "after";
            throw new BadRequestException("refused");
        }, default));
        Assert.Equal("before", (await repo.GetAsync("st-rb", default)).Description);
    }

    [Fact]
    public async Task Config_updates_replace_the_map()
    {
        var repo = new ConfigRepository(pg.Db);
        await repo.UpdateAsync(_ => new() { ["user.a"] = "1", ["user.b"] = "2" }, default);
        await repo.UpdateAsync(c => { c.Remove("user.a"); return c; }, default);
        Assert.Equal(new Dictionary<string, string> { ["user.b"] = "2" }, await repo.GetAsync(default));
    }

    [Fact]
    public async Task Queries_ride_through_a_postgres_crash_and_the_supervisor_restarts_it()
    {
        var repo = new ProfileRepository(pg.Db);
        var old = pg.Server.Pid!.Value;
        var restarted = new TaskCompletionSource();
        pg.Server.Restarted += () => restarted.TrySetResult();
        Assert.Equal(0, Tmds.Linux.LibC.kill(old, Tmds.Linux.LibC.SIGKILL));
        // The first call after the crash meets dead pooled connections; Polly retries it.
        Assert.Equal("default", (await repo.GetAsync("default", default)).Name);
        await restarted.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(old, pg.Server.Pid);
    }

    [Fact]
    public void Database_urls_become_connection_strings()
    {
        var cs = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionStrings.FromUrl("postgres://u:p%40ss@db.example:6432/state?sslmode=require"));
        Assert.Equal(("db.example", 6432, "state", "u", "p@ss"), (cs.Host, cs.Port, cs.Database, cs.Username, cs.Password));
        Assert.Equal(Npgsql.SslMode.Require, cs.SslMode);
        Assert.Equal("hyperlxd", new Npgsql.NpgsqlConnectionStringBuilder(ConnectionStrings.FromUrl("postgresql://h")).Database);
    }
}
