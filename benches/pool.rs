//! Benchmarks: the connection pool against deadpool and bb8, over the same TCP connector.
//!
//! Every contender pools `tokio::net::TcpStream`s to one [`TestServer`] on 127.0.0.1, opened
//! by the same connect and checked by the same non-blocking peek on every check-out
//! (racekit's `Connector::validate`, deadpool's `recycle`, bb8's `is_valid` with its default
//! `test_on_check_out`). Connections are opened during warm-up, so the samples time the
//! pools' own bookkeeping and hand-off, not TCP.
//!
//! `pool/get_return`, two cells:
//! - uncontended: one task on a current-thread runtime gets a connection
//!   and drops it, over and over (a pool of 4, so one is always idle).
//! - contended: 8 tasks on a 2-worker runtime share a pool of 2; each gets
//!   a connection, yields once while holding it (standing for a query), and drops it. Most
//!   gets wait, so this times the waiting and the hand-off.
//!
//! One operation is one get and return. Runtimes and pools are built once per contender
//! and benchmark; contenders run in alternating rounds with the noise band of the decision
//! benches (`common::Suite::compare`), and the allocations per operation are counted next
//! to the times. Run through `cargo bench-report`, or `cargo bench --bench pool [-- --quick]`.

// criterion and the baselines are dev-dependencies of the std build only: the model builds
// compile an empty bench.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod contenders {
    use super::common::{Cell, Contender, Runner, Suite};
    use racekit::pool::tcp::{AsyncTcpConnector, TestServer};
    use racekit::pool::{AsyncConnector, Pool};
    use serde_json::json;
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};
    use tokio::net::TcpStream;
    use tokio::runtime::Runtime;

    const UNCONTENDED_POOL: usize = 4;
    const CONTENDED_POOL: usize = 2;
    const CONTENDED_TASKS: u64 = 8;

    /// What the benches need of a pool: one get, a hold of `yields` scheduler yields, and
    /// the return.
    trait BenchPool: Clone + Send + Sync + 'static {
        fn build(addr: SocketAddr, max_size: usize, runtime: &Runtime) -> Self;
        fn get_and_return(&self, yields: usize) -> impl Future<Output = ()> + Send;
    }

    async fn hold(yields: usize) {
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
    }

    impl BenchPool for Pool<AsyncTcpConnector> {
        fn build(addr: SocketAddr, max_size: usize, _runtime: &Runtime) -> Self {
            Pool::new(AsyncTcpConnector::new(addr), max_size).expect("a valid pool size")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get_async().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// deadpool's manager over the same connector.
    struct DeadpoolTcp(AsyncTcpConnector);

    impl deadpool::managed::Manager for DeadpoolTcp {
        type Type = TcpStream;
        type Error = io::Error;
        async fn create(&self) -> io::Result<TcpStream> {
            self.0.connect_async().await
        }
        async fn recycle(
            &self,
            stream: &mut TcpStream,
            _: &deadpool::managed::Metrics,
        ) -> deadpool::managed::RecycleResult<io::Error> {
            if AsyncTcpConnector::is_usable(stream) {
                Ok(())
            } else {
                Err(deadpool::managed::RecycleError::message("the server closed the connection"))
            }
        }
    }

    impl BenchPool for deadpool::managed::Pool<DeadpoolTcp> {
        fn build(addr: SocketAddr, max_size: usize, _runtime: &Runtime) -> Self {
            deadpool::managed::Pool::builder(DeadpoolTcp(AsyncTcpConnector::new(addr)))
                .max_size(max_size)
                .build()
                .expect("a valid pool size")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// bb8's manager over the same connector.
    struct Bb8Tcp(AsyncTcpConnector);

    impl bb8::ManageConnection for Bb8Tcp {
        type Connection = TcpStream;
        type Error = io::Error;
        async fn connect(&self) -> io::Result<TcpStream> {
            self.0.connect_async().await
        }
        async fn is_valid(&self, stream: &mut TcpStream) -> io::Result<()> {
            if AsyncTcpConnector::is_usable(stream) {
                Ok(())
            } else {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "the server closed the connection"))
            }
        }
        fn has_broken(&self, _: &mut TcpStream) -> bool {
            false
        }
    }

    impl BenchPool for bb8::Pool<Bb8Tcp> {
        fn build(addr: SocketAddr, max_size: usize, runtime: &Runtime) -> Self {
            let max_size = u32::try_from(max_size).expect("a small pool");
            runtime
                .block_on(bb8::Pool::builder().max_size(max_size).build(Bb8Tcp(AsyncTcpConnector::new(addr))))
                .expect("bb8 opens its connections")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// Opens every connection of the pool (all held at once), so samples never connect.
    fn warm_up<P: BenchPool>(pool: &P, size: usize, runtime: &Runtime) {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..size)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move { pool.get_and_return(16).await })
                })
                .collect();
            for task in tasks {
                task.await.expect("a warm-up task");
            }
        });
    }

    /// One workload: how a pool of `P` is driven for `ops` operations.
    #[derive(Clone, Copy)]
    enum Workload {
        /// One task on a current-thread runtime gets and returns, over and over.
        Uncontended,
        /// `CONTENDED_TASKS` tasks on a 2-worker runtime share `CONTENDED_POOL` connections.
        Contended,
    }

    impl Workload {
        fn pool_size(self) -> usize {
            match self {
                Workload::Uncontended => UNCONTENDED_POOL,
                Workload::Contended => CONTENDED_POOL,
            }
        }
    }

    /// A warmed-up pool of `P` on its own runtime.
    struct Pooled<P> {
        runtime: Runtime,
        pool: P,
        workload: Workload,
    }

    impl<P: BenchPool> Pooled<P> {
        fn start(addr: SocketAddr, workload: Workload) -> Pooled<P> {
            let runtime = match workload {
                Workload::Uncontended => tokio::runtime::Builder::new_current_thread().enable_all().build(),
                Workload::Contended => {
                    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
                }
            }
            .expect("a runtime");
            let pool = P::build(addr, workload.pool_size(), &runtime);
            warm_up(&pool, workload.pool_size(), &runtime);
            Pooled { runtime, pool, workload }
        }
    }

    impl<P: BenchPool> Runner for Pooled<P> {
        fn run(&mut self, ops: u64) -> Duration {
            let pool = &self.pool;
            match self.workload {
                Workload::Uncontended => self.runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..ops {
                        pool.get_and_return(0).await;
                    }
                    start.elapsed()
                }),
                Workload::Contended => {
                    let per_task = ops.div_ceil(CONTENDED_TASKS);
                    self.runtime.block_on(async {
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..CONTENDED_TASKS)
                            .map(|_| {
                                let pool = pool.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_task {
                                        pool.get_and_return(1).await;
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("a bench task");
                        }
                        // Scaled to the `ops` asked for (the tasks may do a few more).
                        start.elapsed().mul_f64(ops as f64 / (per_task * CONTENDED_TASKS) as f64)
                    })
                }
            }
        }
    }

    pub fn main() {
        let mut suite = Suite::new("pool").count_allocations(super::ALLOCATOR);
        let server = TestServer::start().expect("a loopback listener");
        let addr = server.addr();
        let cells = [
            (
                Workload::Uncontended,
                Cell::new(
                    format!("uncontended, pool of {UNCONTENDED_POOL}"),
                    json!({ "tasks": 1, "runtime_workers": 1, "pool": UNCONTENDED_POOL }),
                ),
            ),
            (
                Workload::Contended,
                Cell::new(
                    format!("{CONTENDED_TASKS} tasks, {CONTENDED_POOL} connections"),
                    json!({ "tasks": CONTENDED_TASKS, "runtime_workers": 2, "pool": CONTENDED_POOL }),
                ),
            ),
        ];
        for (workload, cell) in &cells {
            let workload = *workload;
            let contenders = [
                Contender::new("racekit", move |_| Pooled::<Pool<AsyncTcpConnector>>::start(addr, workload)),
                Contender::new("deadpool", move |_| {
                    Pooled::<deadpool::managed::Pool<DeadpoolTcp>>::start(addr, workload)
                }),
                Contender::new("bb8", move |_| Pooled::<bb8::Pool<Bb8Tcp>>::start(addr, workload)),
            ];
            suite.compare("pool/get_return", cell, "racekit", None, &contenders);
        }
        server.stop();
        suite.finish();
    }
}

fn main() {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    contenders::main();
}
