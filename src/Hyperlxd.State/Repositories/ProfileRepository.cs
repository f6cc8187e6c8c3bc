using Hyperlxd.Api;
using Hyperlxd.Core;
using Npgsql;

namespace Hyperlxd.State.Repositories;

public sealed class ProfileRepository(Database db)
{
    internal const string Columns = "name, description, config::text, devices::text";

    public Task<List<Profile>> ListAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var list = new List<Profile>();
            await using var cmd = conn.Command($"SELECT {Columns} FROM profiles ORDER BY name", null);
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                list.Add(Read(r));
            }
            return list;
        }, ct);

    public Task<Profile> GetAsync(string name, CancellationToken ct) =>
        db.RunAsync((conn, token) => GetAsync(conn, null, name, forUpdate: false, token), ct);

    public Task CreateAsync(Profile p, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("INSERT INTO profiles (name, description, config, devices) VALUES ($1, $2, $3, $4)", null, p.Name, p.Description);
            cmd.Parameters.Add(Json.Param(p.Config));
            cmd.Parameters.Add(Json.Param(p.Devices));
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Profile \"{p.Name}\" already exists");
            }
        }, ct);

    /// <summary>Reads the profile locked, lets <paramref name="mutate"/> change it (or throw), then writes it back.</summary>
    public Task<Profile> UpdateAsync(string name, Action<Profile> mutate, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            var p = await GetAsync(conn, tx, name, forUpdate: true, token);
            mutate(p);
            await using var cmd = conn.Command("UPDATE profiles SET description = $2, config = $3, devices = $4 WHERE name = $1", tx, name, p.Description);
            cmd.Parameters.Add(Json.Param(p.Config));
            cmd.Parameters.Add(Json.Param(p.Devices));
            await cmd.ExecuteNonQueryAsync(token);
            return p;
        }, ct);

    /// <summary>Renames the profile and, in the same transaction, every instance's reference to it.</summary>
    public Task RenameAsync(string name, string newName, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using var cmd = conn.Command("UPDATE profiles SET name = $2 WHERE name = $1", tx, name, newName);
            try
            {
                if (await cmd.ExecuteNonQueryAsync(token) != 1)
                {
                    throw new NotFoundException("Profile not found");
                }
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Profile \"{newName}\" already exists");
            }
            await using var refs = InstanceRepository.RenameProfileCommand(conn, tx, name, newName);
            await refs.ExecuteNonQueryAsync(token);
        }, ct);

    public Task DeleteAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM profiles WHERE name = $1", null, name);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Profile not found");
        }, ct);

    private static async Task<Profile> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string name, bool forUpdate, CancellationToken ct)
    {
        await using var cmd = conn.Command($"SELECT {Columns} FROM profiles WHERE name = $1{(forUpdate ? " FOR UPDATE" : "")}", tx, name);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? Read(r) : throw new NotFoundException("Profile not found");
    }

    internal static Profile Read(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Description = r.GetString(1),
        Config = Json.Map(r.GetString(2)),
        Devices = Json.Devices(r.GetString(3)),
    };
}
